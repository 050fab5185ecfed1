#!/bin/sh
# The container's entry point: make the volumes usable, seed them on first run, then exec watcher.
#
# Why: a new volume is empty (a bind mount always is; a named one too when the image path is
# empty), and watcher refuses to start without feeds.yaml or with no rules. On first run this
# copies what the image ships (/app/defaults: feeds.yaml, rules/ with an empty watchlist and
# the incident types) into them; a volume that already holds them is never touched, so
# monitors' edits survive upgrades of the image. umask 077: every folder made here is 0700 and
# every file copied 0600, like everything watcher writes itself.
set -eu
umask 077

defaults=${SEED_FROM:-/app/defaults}
state=${WATCHER_STATE:-/data/state}
rules=${WATCHER_RULES:-/data/rules}
feeds=${WATCHER_FEEDS:-/data/feeds/feeds.yaml}

for dir in "$state" "$rules" "$(dirname "$feeds")"; do
    mkdir -p "$dir" 2>/dev/null || true
    if [ ! -d "$dir" ] || [ ! -w "$dir" ]; then
        echo "watcher-entrypoint: $dir is not a folder uid $(id -u) can write: chown $(id -u) it on the host" >&2
        exit 1
    fi
done

if ! ls "$rules"/*.yaml >/dev/null 2>&1; then
    cp "$defaults"/rules/*.yaml "$rules"/
    echo "watcher-entrypoint: $rules held no rules: copied the shipped ones (an empty watchlist, the incident types)" >&2
fi

if [ ! -e "$feeds" ]; then
    cp "$defaults/feeds.yaml" "$feeds"
    echo "watcher-entrypoint: no $feeds: copied the shipped one" >&2
fi

exec "$@"
