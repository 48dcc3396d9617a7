"""Step 6, offline: a hands-on exercise per chapter, built on the tests that exercise the abstraction.

Where tests exist, the exercise is to run them, break the code on purpose and watch them fail: the
quickest way to learn what code promises. Where none exist, the exercise is to write one.
"""

from __future__ import annotations

from posixpath import basename, dirname

from fondation.pipeline.model import Abstraction, GenerationOptions, Page
from fondation.pipeline.offline.wording import Words
from fondation.pipeline.outline import Outline
from fondation.pipeline.workspace import Workspace, quoted_doc

_MAX_TESTS = 3


def offline_tutorial(
    workspace: Workspace, outline: Outline, abstraction: Abstraction, options: GenerationOptions
) -> Page:
    words = Words(options.language)
    number = outline.number(abstraction.id)
    title = words("tutorial", number=number, name=abstraction.name)
    path, qualname = abstraction.symbols[0].split("::", 1) if abstraction.symbols else (abstraction.files[0], "")
    symbol = workspace.symbol(path, qualname)
    line = symbol.line if symbol is not None else 1
    doc = quoted_doc(symbol.doc) if symbol is not None else ""
    steps = [
        words("step_open", path=path, symbol=qualname, line=line, doc=doc)
        if doc
        else words("step_open_nodoc", path=path, symbol=qualname, line=line)
    ]
    callers = workspace.users_of(path)
    sites = workspace.call_sites(qualname.rsplit(".", 1)[-1], within=callers, limit=1) if qualname else []
    if sites:
        steps.append(words("step_caller", path=sites[0][0], line=sites[0][1]))
    tests = workspace.tests_of(path, qualname) or workspace.tests_of(path)
    name = qualname.rsplit(".", 1)[-1]
    if tests:
        commands = "\n".join(command_for_test(workspace, test, name) for test in tests[:_MAX_TESTS])
        steps.append(f"{words('step_tests')}\n\n   ```bash\n   {commands.replace(chr(10), chr(10) + '   ')}\n   ```")
        check = words("check_tests", symbol=qualname)
    else:
        steps.append(words("step_no_tests", symbol=qualname))
        check = words("check_reading", symbol=qualname)
    parts = [
        f"# {title}",
        outline.navigation(abstraction.id, words, from_dir="tutorials"),
        f"## {words('tutorial_goal')}",
        words("tutorial_goal_text", name=abstraction.name),
        f"## {words('steps')}",
        "\n".join(f"{position}. {step}" for position, step in enumerate(steps, start=1)),
        f"## {words('check')}",
        check,
    ]
    return Page(outline.tutorial_path(abstraction.id), title, "\n\n".join(parts) + "\n", abstraction.id, "tutorial")


def command_for_test(workspace: Workspace, test: str, name: str) -> str:
    """The usual command that runs one test file (narrowed to `name` where the runner allows it)."""
    language = workspace.code_map.by_path[test].language
    if language == "python":
        return f"python -m pytest {test} -k {name}"
    if language == "go":
        return f"go test ./{dirname(test) or '.'}/"
    if language in ("javascript", "typescript", "tsx"):
        return f"npm test -- {test}"
    if language == "rust":
        return f"cargo test {name}"
    if language in ("java", "kotlin"):
        return f"mvn test -Dtest={basename(test).rsplit('.', 1)[0]}"
    if language == "ruby":
        return f"bundle exec rspec {test}"
    if language == "php":
        return f"vendor/bin/phpunit {test}"
    if language == "csharp":
        return f"dotnet test --filter {name}"
    return f"# run {test} with the project's test runner"
