#!/usr/bin/env bash
# The GitHub Action's one step (action.yml): install hubpub, pick the command, run it.
#
# Inputs come as INPUT_* variables (action.yml maps the workflow's `with:` onto them); the
# runner's own variables (GITHUB_EVENT_NAME, GITHUB_OUTPUT, RUNNER_TEMP, ...) are read as the
# runner sets them. hubpub itself writes $GITHUB_OUTPUT and $GITHUB_STEP_SUMMARY.
# Errors are reported as workflow commands (`::error::`), so they show on the run's summary.
set -euo pipefail

action_path=${GITHUB_ACTION_PATH:-$(cd "$(dirname "$0")/.." && pwd)}
command=${INPUT_COMMAND:-}
config=${INPUT_CONFIG:-hubpub.toml}
version=${INPUT_VERSION:-}
python=${INPUT_PYTHON:-python3}
event=${GITHUB_EVENT_NAME:-}

fail() {
  echo "::error title=hubpub action::$1"
  exit 1
}

# Nothing is published from a pull request by default: a fork's pull request runs with the
# workflow's secrets when the event is pull_request_target, and a plan is what a review needs.
case "$event" in
  pull_request | pull_request_target) pull_request=true ;;
  *) pull_request=false ;;
esac
if [ -z "$command" ]; then
  if [ "$pull_request" = true ]; then command=plan; else command=apply; fi
fi
case "$command" in
  plan | apply | build | validate | tags) ;;
  *) fail "input command: '$command' is not one of plan, apply, build, validate, tags" ;;
esac
if [ "$command" = apply ] && [ "$pull_request" = true ] \
  && [ "${INPUT_ALLOW_PULL_REQUEST_PUSH:-false}" != true ]; then
  fail "command apply on a $event event would publish from a pull request: use command plan, or set allow-pull-request-push: true"
fi

# One virtual environment per job, reused by later hubpub steps of the same job when the
# package to install is the same.
venv=${RUNNER_TEMP:-${TMPDIR:-/tmp}}/hubpub-action-venv
if [ -n "$version" ]; then
  spec="hubpub==$version"
  want=$spec
else
  spec=$action_path
  # The action's files arrive as an archive, not a git checkout: key on their content (the
  # package's own files only: pip's build writes src/*.egg-info, and Python __pycache__).
  want="local $(cd "$action_path" && find pyproject.toml src/hubpub -type f \
    ! -path '*/__pycache__/*' -print0 \
    | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
fi
if [ ! -x "$venv/bin/hubpub" ] || [ "$(cat "$venv/.hubpub-action" 2>/dev/null)" != "$want" ]; then
  echo "::group::install hubpub ($spec)"
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || fail "hubpub needs Python 3.11 or newer; '$python' is $("$python" -V 2>&1)"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$spec" \
    || fail "could not install $spec (see the log above)"
  echo "$want" > "$venv/.hubpub-action"
  echo "::endgroup::"
fi

# INPUT_ARGS split the way a shell splits words (quotes, backslashes), with no expansion.
args=()
if [ -n "${INPUT_ARGS:-}" ]; then
  words=$(mktemp)
  # stdout (the words) goes to the file; stderr (shlex's complaint) to $reason.
  reason=$("$venv/bin/python" -c '
import shlex, sys
try:
    words = shlex.split(sys.argv[1])
except ValueError as exc:
    sys.exit(str(exc))
sys.stdout.write("".join(word + "\0" for word in words))
' "$INPUT_ARGS" 2>&1 > "$words") || fail "input args: $reason: $INPUT_ARGS"
  mapfile -d '' -t args < "$words"
  rm -f "$words"
fi

if [ -n "${INPUT_WORKING_DIRECTORY:-}" ]; then
  cd "$INPUT_WORKING_DIRECTORY"
elif [ -n "${GITHUB_WORKSPACE:-}" ]; then
  cd "$GITHUB_WORKSPACE"
fi

if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "command=$command" >> "$GITHUB_OUTPUT"
fi
set +e
"$venv/bin/hubpub" "$command" -c "$config" "${args[@]}"
status=$?
set -e
exit "$status"
