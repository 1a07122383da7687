"""The dashboard (ホーム): each domain contributes a panel for the roles it concerns."""
