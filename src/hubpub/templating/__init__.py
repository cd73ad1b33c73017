"""Tag templates, presets and slugging: from an image's tag rules and the git state to the list
of tag values (docs/config.md#how-tag-values-are-computed). This package re-exports the public
names of its modules:

* ``templating.slug``: a value made a valid tag;
* ``templating.sandbox``: the Jinja2 sandbox, what templates see, rendering and its messages;
* ``templating.checks``: the static checks at load time;
* ``templating.rules``: rules to tag values, metadata-action's way.

Versions (parsing, order, the highest stable one) are ``hubpub.versions``, re-exported here too.

* Templates are Jinja2 in a :class:`~jinja2.sandbox.SandboxedEnvironment` whose undefined is
  strict: reading a name that does not exist is an error naming the image, the rule and the name.
  ``None`` renders as the empty string, so ``"{{ git.branch }}"`` on a tag build is skipped.
* Presets copy docker/metadata-action (src/meta.ts, src/tag.ts): priorities, pre-release
  handling, ``sha-`` + 7, ``pr-<n>``, slugging. hubpub's improvements
  (docs/config.md#where-hubpub-differs-from-metadata-action): no ``0`` tag for 0.x unless
  ``major_zero``; ``latest = "auto"`` only for the highest stable version among the
  repository's tags; prefix/suffix on any preset; ``latest_suffix``.
* Everything here is pure: no git, no files, no environment beyond what is passed in.
* Jinja2 is imported only when a template or expression has Jinja syntax in it (0.04 to 0.05 s
  at every start, plus its lexer on first use): a literal template (``"1.4.2"``, ``"edge"``),
  which many configs only have, renders as itself, as Jinja would render it (:func:`is_literal`).
"""

from hubpub.templating.checks import (
    check_expression,
    check_image_templates,
    check_template,
)
from hubpub.templating.rules import (
    DEFAULT_PATTERNS,
    PRIORITY,
    SHORT_SHA,
    ImageTags,
    Produced,
    TagValue,
    image_tags,
    patterns_of,
    rule_label,
    rule_priority,
    slug_suggestion,
)
from hubpub.templating.sandbox import (
    GIT_NAMES,
    PATTERN_NAMES,
    RULE_NAMES,
    VALUE_NAMES,
    VERSION_NAMES,
    LocatedTemplateError,
    base_context,
    environment,
    evaluate,
    is_literal,
    listed_env,
    render,
    translate_dockerhub,
    undefined_message,
)
from hubpub.templating.slug import (
    MAX_TAG,
    finish_tag,
    sanitize,
    slug,
)
from hubpub.versions import (
    VersionInfo,
    is_highest_stable,
    parse_pep440,
    parse_semver,
    parse_version,
)

__all__ = [
    "DEFAULT_PATTERNS",
    "GIT_NAMES",
    "MAX_TAG",
    "PATTERN_NAMES",
    "PRIORITY",
    "RULE_NAMES",
    "SHORT_SHA",
    "VALUE_NAMES",
    "VERSION_NAMES",
    "ImageTags",
    "LocatedTemplateError",
    "Produced",
    "TagValue",
    "VersionInfo",
    "base_context",
    "check_expression",
    "check_image_templates",
    "check_template",
    "environment",
    "evaluate",
    "finish_tag",
    "image_tags",
    "is_highest_stable",
    "is_literal",
    "listed_env",
    "parse_pep440",
    "parse_semver",
    "parse_version",
    "patterns_of",
    "render",
    "rule_label",
    "rule_priority",
    "sanitize",
    "slug",
    "slug_suggestion",
    "translate_dockerhub",
    "undefined_message",
]
