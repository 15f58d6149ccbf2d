"""Correct answers to the otter sheet (source/otter01) written differently: full marks."""
ALTERNATIVES = {
    "q1": ["def kinetic_energy(m, v):\n    return m * v * v / 2"],
    "q2": [
        "import math\n\ndef projectile_range(v0, theta, g=9.81):\n"
        "    return 2 * v0**2 * np.sin(theta) * np.cos(theta) / g\n\n\n"
        "best_angle_deg = 45.0\nbest_angle_deg"
    ],
    "q3": [
        # a least-squares fit of the envelope through scipy, on the positive peaks
        "from scipy.signal import find_peaks\nfrom scipy.optimize import curve_fit\n"
        "peaks, _ = find_peaks(x, height=0.05)\n"
        "(amplitude, gamma), _ = curve_fit(lambda tt, a, g: a * np.exp(-g * tt), t[peaks], x[peaks], p0=(1.0, 0.1))\n"
        "gamma = float(gamma)\ngamma"
    ],
}
