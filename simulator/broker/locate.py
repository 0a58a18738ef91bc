"""Finding the Mosquitto executable and the ``broker_config/`` directory."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from simulator.broker.runtime_config import BASE_CONFIG_NAME
from simulator.errors import BrokerLaunchError

SBIN_DIRS: tuple[Path, ...] = (Path("/usr/sbin"), Path("/usr/local/sbin"))
"""Searched after ``PATH``: Debian installs mosquitto in /usr/sbin, which a
non-root user's ``PATH`` often lacks."""

CONFIG_DIR_ENV = "FACTORY_SIM_BROKER_CONFIG"
"""Environment variable naming the broker config directory (set in the image)."""

_INSTALL_HINT = (
    "install it with: apt-get install -y mosquitto (Debian/Ubuntu), "
    "or point the run at an existing broker with --broker mqtt://host:port"
)


def find_mosquitto(search_path: str | None = None, extra_dirs: Sequence[Path] = SBIN_DIRS) -> Path:
    """Return the path of the ``mosquitto`` executable.

    ``search_path`` is a ``PATH``-style string (default: the process's
    ``PATH``); ``extra_dirs`` are searched after it. Raises
    :class:`BrokerLaunchError` saying how to install Mosquitto when none is found.
    """
    path_dirs = (os.environ.get("PATH", "") if search_path is None else search_path).split(
        os.pathsep
    )
    dirs = [d for d in path_dirs if d] + [str(d) for d in extra_dirs]
    found = shutil.which("mosquitto", path=os.pathsep.join(dirs))
    if found is None:
        looked = ", ".join(dirs) or "(no directories)"
        raise BrokerLaunchError(f"mosquitto was not found in {looked}; {_INSTALL_HINT}")
    return Path(found)


def default_config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return the directory holding the base ``mosquitto.conf``.

    ``$FACTORY_SIM_BROKER_CONFIG`` wins when set; otherwise ``broker_config/``
    beside the ``simulator`` package (a checkout or an editable install). An
    installed wheel has no such directory, which is why the image sets the
    variable. Raises :class:`BrokerLaunchError` naming where it looked.
    """
    env = os.environ if environ is None else environ
    explicit = env.get(CONFIG_DIR_ENV)
    if explicit:
        candidate = Path(explicit)
        origin = f"from ${CONFIG_DIR_ENV}"
    else:
        candidate = Path(__file__).resolve().parents[2] / "broker_config"
        origin = f"beside the simulator package; set ${CONFIG_DIR_ENV} to use another directory"
    if not (candidate / BASE_CONFIG_NAME).is_file():
        raise BrokerLaunchError(
            f"no broker config: {candidate / BASE_CONFIG_NAME} does not exist ({origin})"
        )
    return candidate
