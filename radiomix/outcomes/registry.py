"""The registered outcome types, by name. A leaf of the outcomes package: each task module registers its Task
when it is imported (the package's ``__init__`` imports the built-in ones)."""

from __future__ import annotations

__all__ = ["TASKS", "register_task", "get_task"]

#: Registered outcome types by name.
TASKS: dict = {}


def register_task(task, *, replace: bool = False):
    """Make ``task`` (a :class:`radiomix.outcomes.Task` instance) available as the config's ``task: <name>``;
    returns it. A second task of the same name is refused unless ``replace``."""
    from .base import Task

    if not isinstance(task, Task):
        raise TypeError(f"register_task takes a Task instance, got {type(task).__name__}")
    if task.name in TASKS and not replace:
        raise ValueError(f"an outcome type called {task.name!r} is registered already; pass replace=True")
    TASKS[task.name] = task
    return task


def get_task(name: str):
    """The Task called ``name``."""
    if name in TASKS:
        return TASKS[name]
    raise ValueError(f"unknown task {name!r}; valid: {sorted(TASKS)}")
