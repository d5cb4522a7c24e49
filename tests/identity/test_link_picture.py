"""The picture of how a group is linked, laid out without a database."""

from identity.candidates.blocking import UNIQUE_ID_CONFLICT, BlockingReason
from identity.candidates.links import link_picture


def test_a_pair_sharing_a_phone_is_two_profiles_joined_by_a_labelled_line():
    picture = link_picture(
        [(1, "Jane Doe"), (2, "Jane Doe")],
        [{"rule": "shared_value", "type": "phone", "value": "+12125551234", "profiles": [1, 2]}],
        [],
    )

    assert [(node.label, node.kind, node.profile_id) for node in picture.nodes] == [
        ("profile 1", "profile", 1), ("profile 2", "profile", 2),
    ]
    [edge] = picture.edges
    assert edge.kind == "shared_value"
    assert [text for text, _ in edge.labels] == ["phone: +12125551234"]
    assert edge.path.startswith("M110,") and " L530," in edge.path


def test_a_value_shared_by_three_profiles_is_a_node_of_its_own():
    picture = link_picture(
        [(1, "A"), (2, "B"), (3, "C")],
        [{"rule": "shared_value", "type": "phone", "value": "+1212", "profiles": [1, 2, 3]}],
        [],
    )

    assert [node.kind for node in picture.nodes] == ["profile"] * 3 + ["value"]
    assert len(picture.edges) == 3  # a spoke to each profile


def test_two_kinds_of_link_between_one_pair_bend_apart():
    picture = link_picture(
        [(1, "A"), (2, "B")],
        [
            {"rule": "shared_value", "type": "phone", "value": "+1212", "profiles": [1, 2]},
            {"rule": "collision", "type": "email", "value": "a@example.com", "profiles": [1, 2]},
        ],
        [BlockingReason(
            code=UNIQUE_ID_CONFLICT, title="", rule="", remedies=(),
            evidence={"type": "Loyalty card", "profiles": [{"profile": 1}, {"profile": 2}]},
        )],
    )

    assert sorted(edge.kind for edge in picture.edges) == ["collision", "conflict", "shared_value"]
    # One straight line in the middle, a curve on each side: three paths, three label places.
    assert sorted(" Q" in edge.path for edge in picture.edges) == [False, True, True]
    assert len({edge.path for edge in picture.edges}) == 3
    assert len({edge.label_y for edge in picture.edges}) == 3


def test_lines_name_identifier_types_by_their_labels_not_their_keys():
    picture = link_picture(
        [(1, "A"), (2, "B")],
        [{"rule": "collision", "type": "anonymous_id", "value": "anon-7", "profiles": [1, 2]}],
        [BlockingReason(
            code=UNIQUE_ID_CONFLICT, title="Different loyalty cards", rule="", remedies=(),
            evidence={"type": "loyalty_card", "profiles": [{"profile": 1}, {"profile": 2}]},
        )],
        labels={"anonymous_id": "Anonymous ID", "loyalty_card": "Loyalty card"},
    )

    texts = sorted(text for edge in picture.edges for text, _ in edge.labels)
    assert texts == ["collision on anonymous ID: anon-7", "different loyalty cards"]
