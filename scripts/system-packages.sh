#!/usr/bin/env bash
# Install the Debian packages the test suite needs, only those missing.
#   pdfsig (poppler-utils): an independent validator of the PDFs' PAdES signatures;
#   pdftotext (poppler-utils): the text layer of the rendered fiches;
#   certutil, vfychain (libnss3-tools): a throwaway NSS database trusting the platform CA, for
#   pdfsig, and NSS's own check of a signer's chain against it.
#   chromium: the browser that tests/browser drives through Playwright;
#   npm: installs axe-core (tests/browser/package-lock.json) for their accessibility audit;
#   nginx: the TLS reverse proxy of the production journey (tests/production), configured from
#   deploy/nginx/liaison.conf and run by the test itself, as the current user, on a free port;
#   envsubst (gettext-base): fills in that template, as DEPLOYMENT.md does.
set -euo pipefail

declare -A wanted=( [pdfsig]=poppler-utils [pdftotext]=poppler-utils [certutil]=libnss3-tools
                      [vfychain]=libnss3-tools [chromium]=chromium [npm]=npm
                      [/usr/sbin/nginx]=nginx [envsubst]=gettext-base )
missing=()
for binary in "${!wanted[@]}"; do
  command -v "$binary" >/dev/null 2>&1 || missing+=("${wanted[$binary]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "Paquets manquants : ${missing[*]} — installez-les (apt-get install ${missing[*]})." >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
${SUDO:-} apt-get update -qq
${SUDO:-} apt-get install -y -qq --no-install-recommends "${missing[@]}"
