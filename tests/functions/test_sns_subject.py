"""SNS subjects: whatever text a notification is built from, SNS accepts its subject (issue 6, item 10).

SNS requires fewer than 100 characters of ASCII text that begins with a letter, number or punctuation
mark, with no line breaks or control characters; ``sandbox.moto_fixes.sns_subject_problem`` is that rule
as the sandbox enforces it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st

from functions import records
from functions.common.models import SNS_SUBJECT_MAX, TeamMembership, sns_subject
from functions.directory import DirectoryResult
from sandbox.moto_fixes import sns_subject_problem


@given(st.text())
@example("x" * 100)
@example("x" * 99 + "\u00e9")
@example("\n\t \u200b")
@example("\u2713" * 3)
def test_every_subject_is_one_sns_accepts(text: str) -> None:
    subject = sns_subject(text)
    assert sns_subject_problem(subject) is None, (text, subject)
    assert 0 < len(subject) <= SNS_SUBJECT_MAX < 100
    assert sns_subject(subject) == subject, "valid subjects pass unchanged"


@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=99))
def test_a_valid_subject_is_kept_as_it_is(text: str) -> None:
    assert sns_subject(text) == text


def test_a_long_subject_is_cut_below_the_limit_and_says_so() -> None:
    assert sns_subject("x" * 100) == "x" * 96 + "..."
    assert len(sns_subject("word " * 40)) < 100


def test_the_longest_logins_and_team_slugs_still_make_a_valid_subject() -> None:
    membership = TeamMembership(
        correlation_id="d",
        org="o" * 39,
        login="l" * 39,
        user_id=1,
        team="t" * 100,
        role="member",
        state="active",
    )
    request = records.member_store_request(
        membership,
        DirectoryResult(status="not_found", source="github-saml"),
        onboarded_at=datetime(2026, 1, 1, tzinfo=UTC),
        table="members",
    )
    assert sns_subject_problem(request.notification.subject) is None
    assert request.notification.subject.startswith(f"Onboarded {'l' * 39} to ")
