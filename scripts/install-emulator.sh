#!/usr/bin/env bash
# Installs ministack (a local AWS emulator whose Lambda really runs Python handlers, and
# whose S3 the AWS SDK accepts) into .emu/venv, for the AWS tests. Idempotent. See
# docs/aws-lambda.md §8. The test harness runs this itself when the emulator is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
MINISTACK_VERSION=1.5.33
BOTO3_VERSION=1.43.106
installed() {
  [ -x .emu/venv/bin/ministack ] && .emu/venv/bin/python -c "import boto3" 2>/dev/null \
    && [ "$(.emu/venv/bin/pip show ministack 2>/dev/null | sed -n 's/^Version: //p')" = "$MINISTACK_VERSION" ]
}
installed && exit 0
# Tests in several processes (and threads) may ask at once: one installs, the others
# wait for it and find it installed.
mkdir -p .emu
exec 9>.emu/install.lock
flock 9
installed && exit 0
rm -rf .emu/venv
python3 -m venv .emu/venv
.emu/venv/bin/pip install --quiet --disable-pip-version-check \
  "ministack==$MINISTACK_VERSION" "boto3==$BOTO3_VERSION"
.emu/venv/bin/ministack --help >/dev/null 2>&1 || test -x .emu/venv/bin/ministack
echo "ministack $MINISTACK_VERSION installed in .emu/venv"
