"""Airflow's setup/teardown context (``with setup_task >> teardown_task:``): tasks created
inside become downstream of the setups and upstream of the teardowns."""


class SetupTeardownContext:
    active = False
    context_map = {}
    _context_managed_setup_task = []
    _context_managed_teardown_task = []
    _previous_setup_teardown = []
    _stack = []

    @classmethod
    def push_setup_teardown_task(cls, operator):
        cls._stack.append((operator, set()))
        cls.active = True

    @classmethod
    def update_context_map(cls, task):
        if cls._stack:
            cls._stack[-1][1].add(task)

    @classmethod
    def set_work_task_roots_and_leaves(cls):
        operator, created = cls._stack.pop()
        cls.active = bool(cls._stack)
        setups = [operator] if getattr(operator, "is_setup", False) else []
        teardowns = [operator] if getattr(operator, "is_teardown", False) else []
        for task in created:
            for s in setups:
                if task is not s:
                    s >> task
            for t in teardowns:
                if task is not t:
                    task >> t
