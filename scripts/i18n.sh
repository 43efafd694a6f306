#!/bin/sh
# Refresh the message catalogues after changing strings (see I18N.md):
#   sh scripts/i18n.sh          extract, update every catalogue, compile
# Translators then fill in translations/<code>/LC_MESSAGES/messages.po and run it again.
set -e
cd "$(dirname "$0")/.."
pybabel extract -F translations/babel.cfg -k _l -k N_ --add-comments="Translators:" \
    --add-location=never --no-wrap --project=fieldapp --copyright-holder="fieldapp contributors" \
    -o translations/messages.pot fieldapp
pybabel update -i translations/messages.pot -d translations --ignore-obsolete --no-wrap
pybabel compile -d translations --statistics
