"""gaitlstm: the training workspace of the wearable gait-sensing product.

Stages, one module each: io (readers) -> features (the contract's feature
pipeline) -> dataset (windows and splits) -> models -> train -> export
(ONNX, int8, manifest, golden vectors) -> evaluate / report.
"""

FEATURE_PIPELINE = "gait-features/1"
CONTRACT_SCHEMA = "gait-model-contract/1"
