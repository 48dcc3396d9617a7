"""The offline generator's own sentences, in every language a course can be written in.

The offline course's facts come from the code map; only these connecting sentences are written by
hand. Keeping them in one table per language is what makes `--language fr` give French throughout:
a test walks every key and every language, so no sentence can exist in one language only.
"""

from __future__ import annotations

from typing import Final

EN: Final = {
    "overview": "Overview",
    "chapter": "Chapter {number}: {name}",
    "tutorial": "Tutorial {number}: {name}",
    "previous": "Previous",
    "next": "Next",
    "tutorial_link": "Hands-on tutorial",
    "chapter_link": "Back to the chapter",
    "where": "Where it lives",
    "lines": "{count} lines",
    "why": "Why it exists",
    "why_fallback": "`{path}` defines {summary}. {usage}",
    "used_by": "{count} other files of the repository import it, which makes it one of the foundations to learn early.",
    "used_by_one": "One other file of the repository imports it: `{path}`.",
    "used_by_none": "No other file of the repository imports it: it sits at the edge of the code base, where work starts.",
    "summary_types": "{count} types",
    "summary_functions": "{count} functions",
    "summary_nothing": "a few definitions",
    "and": "and",
    "use_case": "A typical use",
    "use_case_intro": "Here is how the rest of the code base uses it, in `{path}:{line}`:",
    "use_case_none": "Nothing else in the repository calls it directly; it is reached through {entry}.",
    "use_case_nothing": "It is used on its own; start from its first definition below.",
    "concepts": "Key concepts",
    "inside": "How it works",
    "inside_intro": "**{name}** is defined at `{path}:{start}-{end}`.",
    "first_lines": "The first {count} lines:",
    "calls": "Inside, it relies on {names}.",
    "diagrams": "Diagrams",
    "neighbourhood": "How **{name}** sits among its neighbours (arrows point to what is used):",
    "sequence": "A typical call sequence, from a real caller:",
    "related": "Related chapters",
    "uses": "uses",
    "used_by_label": "is used by",
    "imports": "imports {names}",
    "tutorial_goal": "Goal",
    "tutorial_goal_text": "Find your way around **{name}** in the real code, and prove to yourself that you understand what it does.",
    "steps": "Steps",
    "step_open": "Open `{path}` and read `{symbol}` at `{path}:{line}`. {doc}",
    "step_open_nodoc": "Open `{path}` and read `{symbol}` at `{path}:{line}`.",
    "step_caller": "Find where it is used: `{path}:{line}`. Ask yourself what the caller expects back.",
    "step_tests": "Run the tests that exercise it:",
    "step_no_tests": "No test exercises it directly. Write a small one that calls `{symbol}` with a simple input and checks the result.",
    "check": "How to check your result",
    "check_tests": "The tests above pass. Now change one line of `{symbol}` (for example a returned value), run them again and watch which assertion fails: it tells you what the code promises.",
    "check_reading": "You can explain, without looking, what `{symbol}` receives, what it returns and which other parts of the code it calls.",
    "index_intro": "This course walks you through **{name}** one core abstraction at a time, foundations first.",
    "index_facts": "The repository holds {files} files and {lines} lines of code, mostly {languages}.",
    "architecture": "Architecture",
    "architecture_intro": "The core abstractions and how they use each other:",
    "chapters": "Chapters",
    "tutorials": "Tutorials",
    "key_files": "Key files",
    "key_files_intro": "The files everything else depends on, by importance:",
    "file": "File",
    "role": "Role",
    "entry_points": "Where to start",
    "entry_point": "{kind} **{name}** in `{path}:{line}`",
    "summary_fallback": "{name} is a code base of {files} files, mostly {languages}.",
    "review_note": "Reference not found in the repository",
    "diagram_note": "This diagram could not be checked and is shown as text.",
}

FR: Final = {
    "overview": "Vue d'ensemble",
    "chapter": "Chapitre {number} : {name}",
    "tutorial": "Tutoriel {number} : {name}",
    "previous": "Précédent",
    "next": "Suivant",
    "tutorial_link": "Tutoriel pratique",
    "chapter_link": "Retour au chapitre",
    "where": "Où le trouver",
    "lines": "{count} lignes",
    "why": "Pourquoi il existe",
    "why_fallback": "`{path}` définit {summary}. {usage}",
    "used_by": "{count} autres fichiers du dépôt l'importent : c'est l'une des fondations à apprendre tôt.",
    "used_by_one": "Un autre fichier du dépôt l'importe : `{path}`.",
    "used_by_none": "Aucun autre fichier du dépôt ne l'importe : il se trouve en bordure du code, là où le travail commence.",
    "summary_types": "{count} types",
    "summary_functions": "{count} fonctions",
    "summary_nothing": "quelques définitions",
    "and": "et",
    "use_case": "Un usage typique",
    "use_case_intro": "Voici comment le reste du code l'utilise, dans `{path}:{line}` :",
    "use_case_none": "Rien d'autre dans le dépôt ne l'appelle directement ; on y arrive par {entry}.",
    "use_case_nothing": "Il s'utilise seul ; commencez par sa première définition ci-dessous.",
    "concepts": "Notions clés",
    "inside": "Comment il fonctionne",
    "inside_intro": "**{name}** est défini en `{path}:{start}-{end}`.",
    "first_lines": "Les {count} premières lignes :",
    "calls": "À l'intérieur, il s'appuie sur {names}.",
    "diagrams": "Diagrammes",
    "neighbourhood": "La place de **{name}** parmi ses voisins (les flèches vont vers ce qui est utilisé) :",
    "sequence": "Une séquence d'appels typique, depuis un appelant réel :",
    "related": "Chapitres liés",
    "uses": "utilise",
    "used_by_label": "est utilisé par",
    "imports": "importe {names}",
    "tutorial_goal": "Objectif",
    "tutorial_goal_text": "Vous repérer dans **{name}** sur le vrai code, et vérifier par vous-même que vous comprenez ce qu'il fait.",
    "steps": "Étapes",
    "step_open": "Ouvrez `{path}` et lisez `{symbol}` en `{path}:{line}`. {doc}",
    "step_open_nodoc": "Ouvrez `{path}` et lisez `{symbol}` en `{path}:{line}`.",
    "step_caller": "Trouvez où il est utilisé : `{path}:{line}`. Demandez-vous ce que l'appelant attend en retour.",
    "step_tests": "Lancez les tests qui l'exercent :",
    "step_no_tests": "Aucun test ne l'exerce directement. Écrivez-en un petit qui appelle `{symbol}` avec une entrée simple et vérifie le résultat.",
    "check": "Comment vérifier votre résultat",
    "check_tests": "Les tests ci-dessus passent. Modifiez ensuite une ligne de `{symbol}` (par exemple une valeur renvoyée), relancez-les et observez quelle assertion échoue : elle vous dit ce que le code promet.",
    "check_reading": "Vous savez expliquer, sans regarder, ce que `{symbol}` reçoit, ce qu'il renvoie et quelles autres parties du code il appelle.",
    "index_intro": "Ce cours vous fait découvrir **{name}** une abstraction centrale à la fois, les fondations d'abord.",
    "index_facts": "Le dépôt contient {files} fichiers et {lines} lignes de code, surtout en {languages}.",
    "architecture": "Architecture",
    "architecture_intro": "Les abstractions centrales et la façon dont elles s'utilisent :",
    "chapters": "Chapitres",
    "tutorials": "Tutoriels",
    "key_files": "Fichiers clés",
    "key_files_intro": "Les fichiers dont tout le reste dépend, par importance :",
    "file": "Fichier",
    "role": "Rôle",
    "entry_points": "Par où commencer",
    "entry_point": "{kind} **{name}** dans `{path}:{line}`",
    "summary_fallback": "{name} est un code de {files} fichiers, surtout en {languages}.",
    "review_note": "Référence introuvable dans le dépôt",
    "diagram_note": "Ce diagramme n'a pas pu être vérifié ; il est affiché en texte.",
}

WORDING: Final = {"en": EN, "fr": FR}


class Words:
    """The sentences of one language: `words("chapter", number=1, name="Queue")`."""

    def __init__(self, language: str) -> None:
        self.table = WORDING[language]

    def __call__(self, key: str, **values: object) -> str:
        return self.table[key].format(**values)

    def join(self, items: list[str]) -> str:
        """`a`, `a and b`, `a, b and c` in the course's language."""
        if len(items) <= 1:
            return "".join(items)
        return f"{', '.join(items[:-1])} {self.table['and']} {items[-1]}"
