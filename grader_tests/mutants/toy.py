"""Wrong answers for the toy sheet used by test_mutants' self-test."""
MUTANTS = {
    "square": ["def square(x):\n    return 2 * x", "def square(x):\n    return 9"],
    "add": ["def add(a, b):\n    return a - b"],
}
