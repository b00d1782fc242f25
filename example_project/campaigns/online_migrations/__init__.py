"""Online migrations of the campaigns app, run with `manage.py online_migration campaigns ...`."""
