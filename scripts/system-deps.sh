#!/usr/bin/env bash
# Install the Debian packages the service and its tests need, when missing.
set -euo pipefail
need=()
command -v tesseract >/dev/null || need+=(tesseract-ocr tesseract-ocr-eng)
command -v pdftoppm >/dev/null || need+=(poppler-utils)
command -v qpdf >/dev/null || need+=(qpdf)
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
command -v wrk >/dev/null || need+=(wrk)
[ -x /usr/bin/chromium ] || need+=(chromium)  # the workspace's browser tests (Playwright)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${need[*]}; install them (sudo apt-get install ${need[*]})" >&2
  exit 1
fi
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
