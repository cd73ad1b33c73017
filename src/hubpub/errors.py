"""The errors hubpub reports to its users.

Every failure a user can act on is a :class:`HubpubError`. Its message is one line that says
what is wrong, where, and what to do; ``cli.main`` is the only place that turns it into text on
stderr and an exit code (twine's ``__main__`` does the same).

    HubpubError
    ├── ConfigError        the TOML file: syntax, schema, unknown keys (file:line, path)
    ├── TemplateError      a tag template or rule (image, rule, name)
    ├── ReferenceError_    an image reference (distribution/reference's reasons)
    ├── GitError           reading the git state
    ├── RegistryError      talking to a registry
    │   ├── AuthError      401: no or wrong credentials
    │   ├── DeniedError    403 / DENIED: no push access
    │   ├── NotFoundError  unknown repository, tag or blob
    │   ├── RateLimitError 429 after the retries (Docker Hub's pull limit)
    │   └── TransportError connection refused, TLS, timeouts after the retries
    ├── EngineError        the Docker engine: build or push failed
    │   └── BuildError     a build failed (with the failing step's last output lines)
    └── PlanError          plan/apply discipline: conflicts, stale or foreign saved plans
        └── StalePlanError
"""

from __future__ import annotations


class HubpubError(Exception):
    """A failure the user can act on. ``str(err)`` is the whole one-line message (a
    :class:`ConfigError` may hold several errors, one line each)."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class ConfigError(HubpubError):
    """The config file. Several errors found in one reading are one ``ConfigError`` whose
    message has one line per error (:meth:`all`), so that a user fixes them all in one go."""

    @classmethod
    def all(cls, lines: list[str]) -> ConfigError:
        return cls("\n".join(lines))


class TemplateError(HubpubError):
    pass


class ReferenceError_(HubpubError):  # (the builtin ReferenceError is about weakrefs)
    pass


class GitError(HubpubError):
    pass


class RegistryError(HubpubError):
    pass


class AuthError(RegistryError):
    pass


class DeniedError(RegistryError):
    pass


class NotFoundError(RegistryError):
    pass


class RateLimitError(RegistryError):
    pass


class TransportError(RegistryError):
    pass


class EngineError(HubpubError):
    pass


class BuildError(EngineError):
    """A build failed. ``output`` holds the failing step's last lines of output, shown
    under the one-line message (report.py), never inside it."""

    def __init__(
        self, message: str, *, hint: str | None = None, output: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message, hint=hint)
        self.output = output


class PlanError(HubpubError):
    pass


class StalePlanError(PlanError):
    pass
