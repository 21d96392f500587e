"""Models implementing :class:`savae_lite.models.base.LatentVariableModel`."""
from savae_lite.models.base import LatentVariableModel
from savae_lite.models.image import ImageModelConfig, ImageVAE, PixelCNNLM
from savae_lite.models.text import LSTMLanguageModel, TextModelConfig, TextVAE
from savae_lite.models.toy import LinearGaussianVAE, ToyModelConfig

__all__ = ["LatentVariableModel", "TextModelConfig", "TextVAE", "LSTMLanguageModel", "ToyModelConfig",
           "LinearGaussianVAE", "ImageModelConfig", "ImageVAE", "PixelCNNLM"]
