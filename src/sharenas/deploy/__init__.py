"""Using a trained or searched model: load it from its run folder alone, predict on new raw
inputs, export it (ONNX, ``torch.export``)."""

from sharenas.deploy.export import ExportReport, export_model
from sharenas.deploy.predictor import LoadedModel, Predictions, load_model

__all__ = ["ExportReport", "LoadedModel", "Predictions", "export_model", "load_model"]
