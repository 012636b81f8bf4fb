"""AB06 sensor-to-segment rotations: a FIXTURE for tests and evaluation only.

The detector consumes segment-frame rates; turning a strapped-on sensor into
the segment frame is the sensor-to-segment calibration's job (being built
separately). Until it lands, AB06's rotations come from the data, by
`python -m gaitlstm.gait calibrate-ab06`:

- segment z (sagittal axis, OpenSim: z to the right): the unit vector u with
  gyro @ u closest (least squares) to the IK sagittal rate of the segment,
  d/dt(pelvis_tilt + hip_flexion_r [+ knee_angle_r + ankle_angle_r] for the
  foot), averaged over the 24 trials. Fitting against the IK rate fixes the
  sign: positive = toes rising (foot), thigh flexing (femur).
- segment y (up): the mean accelerometer direction while the segment is
  still (|gyro| < 0.3 rad/s: foot flat in stance; the thigh is never still
  while walking, so its y is taken from the mean specific force instead),
  made orthogonal to z.
- x = y cross z (anterior).

Rows are the segment axes in sensor coordinates: v_segment = R @ v_sensor.
"""

from __future__ import annotations

import numpy as np

# Written by `python -m gaitlstm.gait calibrate-ab06 --data ../../shared/data/camargo_ab06`.
AB06_FOOT_TO_SEGMENT = np.array(
    [
        [0.9039306652640345, 0.28317200481038446, 0.3205042403572651],
        [-0.3912931271646276, 0.24510361740533565, 0.8870253126988797],
        [0.1726239874091851, -0.9272204874928544, 0.33235993522755874],
    ]
)
