"""Pictures (MMS): storing them, fetching inbound ones, serving them to agents and providers.

store.py   the checks (type by magic bytes, size) and the files, named by sha256
fetch.py   the job that downloads an inbound MMS's pictures after the webhook's answer
links.py   signed, expiring public URLs of agents' attachments (Twilio fetches them)
routes.py  /console/media/{id} (agents) and /media/{id} (signed, public)
"""
