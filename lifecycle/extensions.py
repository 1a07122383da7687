"""Extension objects shared by the whole app; create_app() binds them."""
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from .db import Database

db = Database()
login_manager = LoginManager()
csrf = CSRFProtect()
#: In memory by default; RATELIMIT_STORAGE_URI (e.g. redis://…) shares counts across servers.
limiter = Limiter(key_func=get_remote_address, default_limits=[])
