"""course.toml and the roster: every mistake is an error that names the key or line."""

import datetime as dt

import pytest

from conftest import REPO, TOY_COURSE_TOML
from gradehub.course import CourseError, load_course, load_nbgrader_config, parse_duration, parse_size


def _course(tmp_path, text):
    (tmp_path / "course.toml").write_text(text)
    return load_course(tmp_path)


def test_repo_course_file_loads():
    course = load_course(REPO)
    assert course.id == "nat3008"
    assert course.assignment("week01").due == dt.datetime(2026, 10, 23, 21, 59, tzinfo=dt.timezone.utc)
    assert course.limits.memory_bytes == 2 * 2**30
    assert load_nbgrader_config(REPO).CourseDirectory.course_id == course.id


def test_limits_and_policy_are_parsed(tmp_path):
    course = _course(tmp_path, TOY_COURSE_TOML)
    assert course.limits.cell_timeout == 4 and course.limits.output_bytes == 64 * 2**10
    policy = course.assignment("toy").late_policy
    assert (policy.grace_seconds, policy.penalty_per_day, policy.cap) == (900, 0.25, 0.5)


@pytest.mark.parametrize("mutation, words", [
    (lambda s: s.replace("[limits]", "[limits]\nmemroy = 3"), "unknown key(s) 'memroy'"),
    (lambda s: s.replace('memory = "384MiB"', 'memory = "lots"'), "[limits].memory: cannot read 'lots'"),
    (lambda s: s.replace('due = "2026-10-23T23:59:00+00:00"', 'due = "2026-10-23T23:59:00"'), "no UTC offset"),
    (lambda s: s.replace("penalty_per_day = 0.25", "penalty_per_day = 25"), "between 0 and 1"),
    (lambda s: s + '\n[[assignment]]\nid = "toy"\n', "listed twice"),
    (lambda s: s.replace('id = "toy"', 'id = "../etc"'), "not a valid assignment id"),
    (lambda s: s.replace("[course]", "[course"), "course.toml"),
])
def test_mistakes_are_named(tmp_path, mutation, words):
    with pytest.raises(CourseError) as err:
        _course(tmp_path, mutation(TOY_COURSE_TOML))
    assert words in str(err.value)


def test_missing_course_file_says_what_to_do(tmp_path):
    with pytest.raises(CourseError, match="--course-root"):
        load_course(tmp_path)


def test_unknown_assignment_lists_the_known_ones(tmp_path):
    with pytest.raises(CourseError, match="course.toml lists: toy"):
        _course(tmp_path, TOY_COURSE_TOML).assignment("week99")


@pytest.mark.parametrize("text, words", [
    ("id,first_name,last_name,email\ns1,A,B,c@d\n", "missing column(s) group"),
    ("id,first_name,last_name,email,group\ns1,A,B,c@d,A\ns1,E,F,g@h,B\n", ":3: student 's1' is listed twice"),
    ("id,first_name,last_name,email,group\nbad id,A,B,c@d,A\n", "not a valid student id"),
])
def test_roster_errors(tmp_path, text, words):
    course = _course(tmp_path, TOY_COURSE_TOML)
    (tmp_path / "roster.csv").write_text(text)
    with pytest.raises(CourseError, match=words.replace("(", r"\(").replace(")", r"\)")):
        course.roster()


def test_example_roster_has_a_class_with_tutor_groups():
    from gradehub.course import read_roster
    students = read_roster(REPO / "roster.example.csv")
    assert len(students) >= 30
    assert len({s.group for s in students}) >= 2


def test_broken_nbgrader_config_is_a_clear_error(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.course_id = \n")
    with pytest.raises(CourseError, match="nbgrader_config.py: SyntaxError"):
        load_nbgrader_config(tmp_path)


def test_units():
    assert parse_size("512MiB") == 512 * 2**20 and parse_size("1.5GB") == 1_500_000_000
    assert parse_duration("15min") == 900 and parse_duration("2h") == 7200 and parse_duration(30) == 30
