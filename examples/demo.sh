#!/usr/bin/env bash
# The main job on the embedded default: no server, no network.
# Migrates a SQLite database in the checkout, syncs examples/catalog, prints items and status,
# then syncs again to show that a second reconcile changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
# Its own database and the example's layout, whatever the shell or a `.env` says: an exported
# DATABASE_URL must not receive the example catalog.
export DATABASE_URL="sqlite:///$PWD/catalog-sync.sqlite"
export CATALOG_ROOTS="skills:skill,mcps:mcp,tools:tool"
# The example is the one repository this demo watches (status would call it unwatched).
export CATALOG_REPOS="example/catalog"
cs=.venv/bin/catalog-sync
echo "== catalog-sync db upgrade"; $cs db upgrade
echo "== catalog-sync lint examples/catalog"; $cs lint examples/catalog
echo "== catalog-sync resync --source examples/catalog --repo example/catalog"
$cs resync --source examples/catalog --repo example/catalog
echo "== catalog-sync items"; $cs items
echo "== catalog-sync status"; $cs status
echo "== again: nothing changed, so nothing is written"
$cs resync --source examples/catalog --repo example/catalog
