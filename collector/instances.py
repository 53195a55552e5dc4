"""The effective instance configuration: what the console edits and ingest obeys.

Instances are stored in the control plane (`collector.control`), so that a superadmin can
change them in the console and every process of the collector sees the change. The
config file's `[[instances]]` are written there when the collector starts ("config as
code": the file wins for the instances it names, at every start); instances created in
the console live only there. `--dev`'s instance is never stored: it exists only while a
collector runs with `--dev`, and so cannot outlive a development session.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from pydantic import ValidationError

from collector.config import DEV_INSTANCE, InstanceConfig, Settings, describe_error
from collector.control import AuditEntry, Control
from collector.paths import NO_ROUTES, RouteTable

log = logging.getLogger("phi_replay.config")


class InstanceRegistry:
    def __init__(self, control: Control, settings: Settings) -> None:
        self.control = control
        self.from_file = frozenset(i.name for i in settings.instances if not _is_dev(i, settings))
        self._volatile = tuple(i for i in settings.instances if _is_dev(i, settings))
        self._lock = threading.Lock()
        self._version = -1
        self._instances: tuple[InstanceConfig, ...] = ()

    def import_file(self, instances: Iterable[InstanceConfig], source: str) -> list[str]:
        """Store the config file's instances; the names of those that changed."""
        changed = []
        for instance in instances:
            if instance.name not in self.from_file:
                continue
            entry = AuditEntry("config-file", "config.change", instance.name, source, "ok")
            if self.control.put_instance(instance.name, to_doc(instance), entry):
                changed.append(instance.name)
        return changed

    def save(self, instance: InstanceConfig, entry: AuditEntry) -> bool:
        """Store a console edit (audited as `entry`); whether anything changed."""
        return self.control.put_instance(instance.name, to_doc(instance), entry)

    def current(self) -> tuple[InstanceConfig, ...]:
        """Every instance, as stored now (re-read when another process changed them)."""
        version = self.control.config_version()
        with self._lock:
            if version == self._version:
                return self._instances
        version, docs = self.control.instance_docs()
        loaded: list[InstanceConfig] = []
        for name, doc in docs.items():
            try:
                loaded.append(InstanceConfig.model_validate(doc))
            except ValidationError as exc:  # fail closed: that instance records nothing
                why = describe_error(exc)
                log.error("stored configuration of instance %s is invalid: %s", name, why)
        stored = {i.name for i in loaded}
        instances = (*loaded, *(i for i in self._volatile if i.name not in stored))
        with self._lock:
            self._version, self._instances = version, instances
        return instances

    def is_volatile(self, name: str) -> bool:
        """The --dev instance: it exists only while the collector runs with --dev."""
        return any(i.name == name for i in self._volatile)

    def get(self, name: str) -> InstanceConfig | None:
        return next((i for i in self.current() if i.name == name), None)

    def routes(self, name: str) -> RouteTable:
        """The routes instance `name` declared, for templating its paths (an instance no
        longer configured: the vocabulary alone)."""
        instance = self.get(name)
        return instance.route_table() if instance is not None else NO_ROUTES


def to_doc(instance: InstanceConfig) -> dict[str, object]:
    return instance.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def _is_dev(instance: InstanceConfig, settings: Settings) -> bool:
    return settings.dev and instance.name == DEV_INSTANCE
