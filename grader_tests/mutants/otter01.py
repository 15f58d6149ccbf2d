"""Wrong answers for the otter sheet (source/otter01): each must lose points on hidden tests.

Keyed by otter question; each entry replaces the question's answer cell (the code cell before
its ``grader.check``). test_otter.py grades them in the sandbox, mutant i of every question in
one submission (the questions do not depend on each other).
"""
MUTANTS = {
    "q1": [
        "def kinetic_energy(m, v):\n    return m * v**2",  # the factor 1/2 forgotten
        "def kinetic_energy(m, v):\n    return 0.5 * m * v",  # momentum-like, not squared
    ],
    "q2": [
        # sin(theta) instead of sin(2 theta): the range formula half-remembered
        "def projectile_range(v0, theta, g=9.81):\n    return v0**2 * np.sin(theta) / g\n\n\n"
        "ranges = projectile_range(20.0, np.deg2rad(angles_deg))\n"
        "best_angle_deg = float(angles_deg[np.argmax(ranges)])\nbest_angle_deg",
        # degrees passed where radians belong, and the angle of the smallest range
        "def projectile_range(v0, theta, g=9.81):\n    return v0**2 * np.sin(2 * np.deg2rad(theta)) / g\n\n\n"
        "ranges = projectile_range(20.0, np.deg2rad(angles_deg))\n"
        "best_angle_deg = float(angles_deg[np.argmin(ranges)])\nbest_angle_deg",
    ],
    "q3": [
        # the sign of the slope kept: a growing oscillation
        "is_peak = (x[1:-1] > x[:-2]) & (x[1:-1] > x[2:]) & (x[1:-1] > 0.05)\n"
        "slope, _ = np.polyfit(t[1:-1][is_peak], np.log(x[1:-1][is_peak]), 1)\n"
        "gamma = float(slope)\ngamma",
        # the decay time 1/gamma instead of the rate
        "is_peak = (x[1:-1] > x[:-2]) & (x[1:-1] > x[2:]) & (x[1:-1] > 0.05)\n"
        "slope, _ = np.polyfit(t[1:-1][is_peak], np.log(x[1:-1][is_peak]), 1)\n"
        "gamma = float(-1 / slope)\ngamma",
    ],
}
