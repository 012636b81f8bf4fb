"""The study's full comparison, reproduced on the virtual cohort and AB06's real data.

- `runner`: `compare`: UI, UG, UA (transfer-ratio curve) and IMU-IK, LSTM and CNN;
- `sweep`: UG for every IMU combination, one result file per combination, resumable
  and parallel;
- `report`: Markdown + PNG from what the two wrote (partial results included).

`python -m gaitlstm.study {compare,sweep,report}`; docs/study.md.
"""
