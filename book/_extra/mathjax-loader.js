// Load MathJax 3 from the copy vendored next to this file (scripts/vendor_mathjax.sh -> mathjax/), or from
// the jsDelivr CDN when that copy is missing (a build without the vendoring step, or a page opened as file://).
(function () {
  var here = (document.currentScript && document.currentScript.src) || window.location.href;
  var local = new URL("mathjax/tex-chtml.js", here).href;
  var cdn = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js";
  function load(src, onerror) {
    var s = document.createElement("script");
    s.src = src;
    s.async = true;
    if (onerror) { s.onerror = onerror; }
    document.head.appendChild(s);
  }
  load(local, function () { load(cdn); });
})();
