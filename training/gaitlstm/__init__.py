"""gaitlstm: the training workspace of the wearable gait-sensing product.

Library, one job per module, in data order:
  io (readers) -> limits (readings the edge drops) -> features (the contract's
  feature pipeline) -> dataset (discovery, recordings, parts) -> splits
  (UI/UG/UA) -> config (TrainConfig, FitConfig) -> models -> fit (the one fit
  loop) -> checkpoint -> predict (checkpoint or ONNX -> published stream) ->
  evaluate (scores) -> cache (feature cache), baselines, jsonio.
Scripts over it: train, export, report, prepare, cli (`python -m gaitlstm`),
study (`python -m gaitlstm.study`), simulate (`python -m gaitlstm.simulate`).
No module imports a script's internals, and the import graph has no cycle
(tests/test_imports.py).
"""

FEATURE_PIPELINE = "gait-features/1"
CONTRACT_SCHEMA = "gait-model-contract/1"
