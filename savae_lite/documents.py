"""The documents study (ours, beyond the paper): does SA-VAE keep its latent in use *and* beat the LSTM language
model when each example is long enough for z to carry something?

Chapter: *Text VAEs and posterior collapse* reads the record written by
``savae-lite experiment documents --out book/results/documents.json``.

The text study's single PTB sentences of at most 20 words leave a latent code about one nat to carry, and there
SA-VAE stays behind the language model. The paper's text result comes from Yahoo answers of about 80 words, in
which z can carry the topic. This study keeps everything of the text study's set-up (vocabulary, LSTM sizes,
optimiser, annealing) but trains on documents of consecutive PTB sentences (preset ``ptb-documents``: at most 70
tokens, 57 on average) with K = 10: the language model, the annealed VAE and SA-VAE with three seeds each, and
He et al.'s aggressive training (annealed, its MI check every 3,125 updates) with one seed for its first
:data:`AGGRESSIVE_EPOCHS` epochs, and one SA-VAE seed
trained on what the original code's backward pass computes (``hvp='original'``, ours): its first
:data:`ORIGINAL_EPOCHS` epochs (``savae-original``) and their continuation to the full schedule
(``savae-original-long``). The machinery (units,
claim lock, resuming, partial records, summary) is :mod:`savae_lite.study`'s.
"""
from __future__ import annotations

from savae_lite.study import Setting, Study

#: Epochs of the ``savae-original`` unit. One CPU thread trains it at about 700 s an epoch, so a full run (13
#: epochs and its test) does not fit one working session; its first 6 epochs (annealing done, learning rate not
#: yet halved) are set beside SA-VAE's seeds at epoch 6 of their validation history, and ``savae-original-long``
#: continues that run from its final checkpoint on the others' schedule (until validation stops improving).
ORIGINAL_EPOCHS = 6

#: Epochs of the ``aggressive+anneal`` unit. Its encoder-only phase runs tens of encoder steps before each update,
#: so an epoch cost 878 s on two CPU threads (the record's ``train_time_per_epoch_s``): the full schedule (a run
#: lost with its machine took 16 epochs, 6.4 thread-hours) does not fit a working session, and the run is set
#: beside the other runs at this epoch of their validation history, like ``savae-original``. With He et al.'s
#: check every 3,125 updates (13.8 of our epochs), the phase is on through all of them.
AGGRESSIVE_EPOCHS = ORIGINAL_EPOCHS

SETTINGS: tuple[Setting, ...] = (
    Setting("autoreg", "autoreg", seeds=3, note="LSTM language model, no z"),
    Setting("vae+anneal", "vae", seeds=3, note="KL weight 0.1 -> 1 over 5 epochs (the paper's annealing)"),
    Setting("savae", "savae", seeds=3, note="annealing, K = 10 SVI steps in training and at test time"),
    Setting("aggressive+anneal", "aggressive", train={"epochs": AGGRESSIVE_EPOCHS},
            note=f"He et al. (2019), their annealed variant; MI checked every 3,125 updates (their Yahoo epoch); "
                 f"its first {AGGRESSIVE_EPOCHS} epochs, compared with the other runs at the same epoch"),
    Setting("savae-original", "savae", train={"svi.hvp": "original", "epochs": ORIGINAL_EPOCHS},
            note=f"ours, an audit: SA-VAE trained on what the original code's backward pass computes (finite "
                 f"differences clipped jointly with the decoder's gradient; savae_lite.original_backward), for "
                 f"{ORIGINAL_EPOCHS} epochs, compared with SA-VAE's seeds at the same epoch"),
    Setting("savae-original-long", "savae", train={"svi.hvp": "original"}, continues="savae-original",
            note="ours: savae-original continued from its final checkpoint on the others' schedule (until "
                 "validation stops improving), compared with SA-VAE's seeds at test"),
)

STUDY = Study(name="documents", preset="ptb-documents", quick_preset="ptb-documents-quick", settings=SETTINGS,
              quick_settings=("autoreg", "vae+anneal", "savae", "aggressive+anneal"), baseline="vae+anneal",
              seeds=(1, 2, 3))
