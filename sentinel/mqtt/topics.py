"""Every MQTT topic Sentinel publishes or listens to, built and parsed in one place (README, "MQTT topics").

`Topics` is made once from the resolved prefix (`sentinel/{site}` -> `sentinel/demo`) and names each topic of
the contract; `Topics.parse` turns an incoming topic back into a typed value. A segment taken from data (a
camera id, an event type, a case id, a grid code, a node id) is checked before it goes into a name: one
carrying `/`, `+`, `#` or a control character would publish somewhere else or match more than it should, so it
is refused with `TopicError` instead.
"""

from __future__ import annotations

from dataclasses import dataclass

SINGLE_LEVEL = "+"
MULTI_LEVEL = "#"
UNASSIGNED_GRID = "unassigned"  # the grid segment of a case whose place lies in no grid cell
MAX_SEGMENT_CHARS = 200  # far below MQTT's 65535-byte topic limit; longer is not an id


class TopicError(ValueError):
    """A topic or a segment of one that Sentinel refuses to publish or subscribe to; the message says why."""


def _segment_problem(value: str) -> str | None:
    if not value:
        return "is empty"
    if len(value) > MAX_SEGMENT_CHARS:
        return f"is longer than {MAX_SEGMENT_CHARS} characters"
    for char in value:
        if char in "/+#":
            return f"contains {char!r}"
        if ord(char) < 0x20 or ord(char) == 0x7F:
            return "contains a control character"
    return None


def check_segment(value: str, what: str) -> str:
    """`value` as one topic level, or TopicError (it would split, widen or corrupt the topic)."""
    problem = _segment_problem(value)
    if problem is not None:
        raise TopicError(f"{what} {value[:80]!r} cannot be a topic segment: it {problem}")
    return value


# ---------------------------------------------------------------- what an incoming topic names


@dataclass(frozen=True)
class StatusTopic:
    """`{p}/status`: the site's online/offline (retained, last will)."""


@dataclass(frozen=True)
class HealthTopic:
    """`{p}/health`: the daemon's retained health."""


@dataclass(frozen=True)
class CameraStatusTopic:
    camera_id: str


@dataclass(frozen=True)
class AlertTopic:
    event_type: str
    camera_id: str
    clip: bool = False  # `.../clip`: the same alert again once its clip is written


@dataclass(frozen=True)
class CaseTopic:
    grid_code: str | None  # None: the place lies in no grid cell (`unassigned`)
    case_id: str


@dataclass(frozen=True)
class CommandTopic:
    case_id: str  # as the sender names it: an id or a case number
    sender: str | None = None  # `commands/by/{sender}/cases/...`: the broker's ACL vouches for the sender


@dataclass(frozen=True)
class CommandRepliesTopic:
    """`{p}/commands/replies`, or a person's own `{p}/commands/by/{sender}/replies`."""

    sender: str | None = None


@dataclass(frozen=True)
class NodeStatusTopic:
    node_id: str


@dataclass(frozen=True)
class NodeHealthTopic:
    node_id: str


ParsedTopic = (
    StatusTopic | HealthTopic | CameraStatusTopic | AlertTopic | CaseTopic | CommandTopic | CommandRepliesTopic
    | NodeStatusTopic | NodeHealthTopic
)  # fmt: skip


# ---------------------------------------------------------------- building and parsing


@dataclass(frozen=True)
class Topics:
    """The topic names under one prefix. Build with `Topics(prefix)` or `Topics.for_site(template, site)`."""

    prefix: str

    def __post_init__(self) -> None:
        if not self.prefix or self.prefix.startswith("$"):
            raise TopicError(f"topic prefix {self.prefix!r} must be non-empty and not start with '$'")
        for level in self.prefix.split("/"):
            check_segment(level, "a level of the topic prefix")

    @classmethod
    def for_site(cls, template: str, site_id: str) -> Topics:
        """The prefix from the config's `mqtt.topic_prefix` (`sentinel/{site}`) and the site id."""
        return cls(template.replace("{site}", check_segment(site_id, "site id")).rstrip("/"))

    def _join(self, *levels: str) -> str:
        return "/".join((self.prefix, *levels))

    # -------------------------------------------------------- published names

    def status(self) -> str:
        return self._join("status")

    def health(self) -> str:
        return self._join("health")

    def camera_status(self, camera_id: str) -> str:
        return self._join("cameras", check_segment(camera_id, "camera id"), "status")

    def alert(self, event_type: str, camera_id: str) -> str:
        return self._join(
            "alerts", check_segment(event_type, "event type"), check_segment(camera_id, "camera id")
        )

    def alert_clip(self, event_type: str, camera_id: str) -> str:
        return self.alert(event_type, camera_id) + "/clip"

    def case(self, grid_code: str | None, case_id: str) -> str:
        grid = UNASSIGNED_GRID if grid_code is None else check_segment(grid_code, "grid code")
        return self._join("cases", grid, check_segment(case_id, "case id"))

    def command(self, case_id: str, sender: str | None = None) -> str:
        """The command platform's topic for a case, or (`sender`) a person's own, which the broker's ACL
        lets only that MQTT user write (`pattern write {p}/commands/by/%u/cases/+`)."""
        case = check_segment(case_id, "case id")
        if sender is None:
            return self._join("commands", "cases", case)
        return self._join("commands", "by", check_segment(sender, "sender"), "cases", case)

    def command_replies(self, sender: str | None = None) -> str:
        if sender is None:
            return self._join("commands", "replies")
        return self._join("commands", "by", check_segment(sender, "sender"), "replies")

    def node_status(self, node_id: str) -> str:
        return self._join("nodes", check_segment(node_id, "node id"), "status")

    def node_health(self, node_id: str) -> str:
        return self._join("nodes", check_segment(node_id, "node id"), "health")

    def own_status(self, node_id: str | None) -> str:
        """This process's status (its last will): the site's, or on a node of several the node's own."""
        return self.node_status(node_id) if node_id else self.status()

    def own_health(self, node_id: str | None) -> str:
        return self.node_health(node_id) if node_id else self.health()

    # -------------------------------------------------------- subscription filters

    def all_topics(self) -> str:
        return self._join(MULTI_LEVEL)

    def camera_statuses(self) -> str:
        return self._join("cameras", SINGLE_LEVEL, "status")

    def alerts(self) -> str:
        """Every alert as first published (the `/clip` repeats are one level deeper and not matched)."""
        return self._join("alerts", SINGLE_LEVEL, SINGLE_LEVEL)

    def cases(self) -> str:
        return self._join("cases", SINGLE_LEVEL, SINGLE_LEVEL)

    def commands(self) -> str:
        return self._join("commands", "cases", SINGLE_LEVEL)

    def own_commands(self) -> str:
        """Every person's own command topic (`{p}/commands/by/+/cases/+`)."""
        return self._join("commands", "by", SINGLE_LEVEL, "cases", SINGLE_LEVEL)

    @staticmethod
    def shared(group: str, topic_filter: str) -> str:
        """An MQTT 5 / mosquitto shared subscription: the broker hands each message to one member of `group`
        (several nodes: each case command is handled once)."""
        return f"$share/{check_segment(group, 'share group')}/{topic_filter}"

    # -------------------------------------------------------- parsing

    def parse(self, topic: str) -> ParsedTopic | None:
        """What `topic` names, or None: not under this prefix, not one of the contract's topics, an empty or
        extra level, or a wildcard (a filter is not a name)."""
        head = self.prefix + "/"
        if not topic.startswith(head):
            return None
        levels = topic[len(head) :].split("/")
        if any(_segment_problem(level) is not None for level in levels):
            return None
        return _parse_levels(levels)

    def parse_command(self, topic: str) -> CommandTopic | None:
        parsed = self.parse(topic)
        return parsed if isinstance(parsed, CommandTopic) else None

    def owns(self, topic: str) -> bool:
        """`topic` is one of the contract's names under this prefix."""
        return self.parse(topic) is not None


def _parse_levels(levels: list[str]) -> ParsedTopic | None:
    match levels:
        case ["status"]:
            return StatusTopic()
        case ["health"]:
            return HealthTopic()
        case ["cameras", camera_id, "status"]:
            return CameraStatusTopic(camera_id)
        case ["alerts", event_type, camera_id]:
            return AlertTopic(event_type, camera_id)
        case ["alerts", event_type, camera_id, "clip"]:
            return AlertTopic(event_type, camera_id, clip=True)
        case ["cases", grid, case_id]:
            return CaseTopic(None if grid == UNASSIGNED_GRID else grid, case_id)
        case ["commands", "replies"]:
            return CommandRepliesTopic()
        case ["commands", "cases", case_id]:
            return CommandTopic(case_id)
        case ["commands", "by", sender, "cases", case_id]:
            return CommandTopic(case_id, sender)
        case ["commands", "by", sender, "replies"]:
            return CommandRepliesTopic(sender)
        case ["nodes", node_id, "status"]:
            return NodeStatusTopic(node_id)
        case ["nodes", node_id, "health"]:
            return NodeHealthTopic(node_id)
    return None
