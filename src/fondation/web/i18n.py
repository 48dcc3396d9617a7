"""The web app's words in English and French, chosen by the user's setting, else by `Accept-Language`.

A plain catalogue: the app has a few hundred words, and a missing key must fail a test (both
catalogues hold the same keys) rather than show a raw key to a user.
"""

from __future__ import annotations

from collections.abc import Callable

from fondation.domain.users import LANGUAGES, User

Translator = Callable[..., str]

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "app.name": "Fondation",
        "nav.dashboard": "Dashboard",
        "nav.admin": "Admin",
        "nav.settings": "Settings",
        "nav.logout": "Log out",
        "nav.skip": "Skip to content",
        "login.title": "Log in",
        "login.name": "User name",
        "login.password": "Password",
        "login.submit": "Log in",
        "login.github": "Log in with GitHub",
        "login.failed": "Wrong user name or password.",
        "login.link_invalid": "This login link is invalid, expired or already used.",
        "dashboard.title": "Your repositories",
        "dashboard.empty": "No repository yet: submit one below.",
        "dashboard.submit": "Generate a course",
        "dashboard.recent_jobs": "Recent jobs",
        "dashboard.github_repos": "Your GitHub repositories",
        "submit.source": "Repository",
        "submit.source_help": "A git URL or owner/repo.",
        "submit.source_help_admin": "A git URL, owner/repo, or a local path on the server.",
        "submit.ref": "Branch, tag or commit",
        "submit.language": "Course language",
        "submit.provider": "Writer",
        "submit.max_chapters": "At most this many chapters",
        "submit.button": "Generate",
        "submit.exists": "A job for this repository is already active: here it is.",
        "repo.title": "Repository",
        "repo.history": "Course history",
        "repo.no_course": "No course yet.",
        "repo.jobs": "Jobs",
        "job.title": "Job",
        "job.status": "Status",
        "job.phase": "Phase",
        "job.step": "Step",
        "job.chapter": "Chapter",
        "job.progress": "Progress",
        "job.tokens": "Tokens",
        "job.cost": "Cost",
        "job.attempts": "Attempts",
        "job.error": "Error",
        "job.timeline": "Timeline",
        "job.log": "Log",
        "job.cancel": "Cancel",
        "job.retry": "Retry",
        "job.regenerate": "Regenerate",
        "job.open_course": "Open the course",
        "job.cancel_pending": "Cancel requested: the worker stops the job.",
        "job.live": "Live",
        "job.source": "Source",
        "job.ref": "Ref",
        "job.created": "Created",
        "course.overview": "Overview",
        "course.chapters": "Chapters",
        "course.tutorials": "Tutorials",
        "course.quality": "Quality",
        "course.export_md": "Download markdown (zip)",
        "course.export_html": "Download HTML site (zip)",
        "course.commit": "Commit",
        "course.generated": "Generated",
        "course.provider": "Writer",
        "course.diagram_failed": "This diagram could not be drawn. Its source:",
        "history.date": "Date",
        "history.commit": "Commit",
        "history.quality": "Quality",
        "history.pages": "Pages",
        "admin.title": "Administration",
        "admin.workers": "Workers",
        "admin.worker": "Worker",
        "admin.state": "State",
        "admin.last_seen": "Last seen",
        "admin.active": "Active jobs",
        "admin.version": "Version",
        "admin.queue": "Queue",
        "admin.oldest_pending": "Oldest pending",
        "admin.stuck": "Stuck jobs (lease expired)",
        "admin.failures": "Failures in the last 24 hours, by kind",
        "admin.reclaim": "Reclaim expired leases",
        "admin.requeue": "Requeue",
        "admin.users": "Users",
        "admin.none": "None.",
        "admin.done": "Done: {count} jobs moved.",
        "settings.title": "Settings",
        "settings.language": "Language",
        "settings.language_auto": "From my browser",
        "settings.password": "New password",
        "settings.save": "Save",
        "settings.saved": "Saved.",
        "error.not_found": "Not found.",
        "error.forbidden": "You may not do this.",
        "error.title": "Something went wrong",
        "common.yes": "yes",
        "common.no": "no",
        "common.back": "Back",
        "common.seconds": "{value} s",
    },
    "fr": {
        "app.name": "Fondation",
        "nav.dashboard": "Tableau de bord",
        "nav.admin": "Administration",
        "nav.settings": "Réglages",
        "nav.logout": "Se déconnecter",
        "nav.skip": "Aller au contenu",
        "login.title": "Connexion",
        "login.name": "Nom d'utilisateur",
        "login.password": "Mot de passe",
        "login.submit": "Se connecter",
        "login.github": "Se connecter avec GitHub",
        "login.failed": "Nom d'utilisateur ou mot de passe incorrect.",
        "login.link_invalid": "Ce lien de connexion est invalide, expiré ou déjà utilisé.",
        "dashboard.title": "Vos dépôts",
        "dashboard.empty": "Aucun dépôt pour l'instant : soumettez-en un ci-dessous.",
        "dashboard.submit": "Générer un cours",
        "dashboard.recent_jobs": "Tâches récentes",
        "dashboard.github_repos": "Vos dépôts GitHub",
        "submit.source": "Dépôt",
        "submit.source_help": "Une URL git ou propriétaire/dépôt.",
        "submit.source_help_admin": "Une URL git, propriétaire/dépôt, ou un chemin local sur le serveur.",
        "submit.ref": "Branche, étiquette ou commit",
        "submit.language": "Langue du cours",
        "submit.provider": "Rédacteur",
        "submit.max_chapters": "Nombre maximal de chapitres",
        "submit.button": "Générer",
        "submit.exists": "Une tâche est déjà active pour ce dépôt : la voici.",
        "repo.title": "Dépôt",
        "repo.history": "Historique des cours",
        "repo.no_course": "Aucun cours pour l'instant.",
        "repo.jobs": "Tâches",
        "job.title": "Tâche",
        "job.status": "État",
        "job.phase": "Phase",
        "job.step": "Étape",
        "job.chapter": "Chapitre",
        "job.progress": "Avancement",
        "job.tokens": "Jetons",
        "job.cost": "Coût",
        "job.attempts": "Tentatives",
        "job.error": "Erreur",
        "job.timeline": "Chronologie",
        "job.log": "Journal",
        "job.cancel": "Annuler",
        "job.retry": "Relancer",
        "job.regenerate": "Régénérer",
        "job.open_course": "Ouvrir le cours",
        "job.cancel_pending": "Annulation demandée : le worker arrête la tâche.",
        "job.live": "En direct",
        "job.source": "Source",
        "job.ref": "Référence",
        "job.created": "Créée",
        "course.overview": "Vue d'ensemble",
        "course.chapters": "Chapitres",
        "course.tutorials": "Tutoriels",
        "course.quality": "Qualité",
        "course.export_md": "Télécharger le markdown (zip)",
        "course.export_html": "Télécharger le site HTML (zip)",
        "course.commit": "Commit",
        "course.generated": "Généré",
        "course.provider": "Rédacteur",
        "course.diagram_failed": "Ce diagramme n'a pas pu être dessiné. Sa source :",
        "history.date": "Date",
        "history.commit": "Commit",
        "history.quality": "Qualité",
        "history.pages": "Pages",
        "admin.title": "Administration",
        "admin.workers": "Workers",
        "admin.worker": "Worker",
        "admin.state": "État",
        "admin.last_seen": "Vu pour la dernière fois",
        "admin.active": "Tâches actives",
        "admin.version": "Version",
        "admin.queue": "File d'attente",
        "admin.oldest_pending": "Plus ancienne en attente",
        "admin.stuck": "Tâches bloquées (bail expiré)",
        "admin.failures": "Échecs des dernières 24 heures, par type",
        "admin.reclaim": "Reprendre les baux expirés",
        "admin.requeue": "Remettre en file",
        "admin.users": "Utilisateurs",
        "admin.none": "Aucun.",
        "admin.done": "Fait : {count} tâches déplacées.",
        "settings.title": "Réglages",
        "settings.language": "Langue",
        "settings.language_auto": "Celle de mon navigateur",
        "settings.password": "Nouveau mot de passe",
        "settings.save": "Enregistrer",
        "settings.saved": "Enregistré.",
        "error.not_found": "Introuvable.",
        "error.forbidden": "Vous n'avez pas le droit de faire ceci.",
        "error.title": "Une erreur est survenue",
        "common.yes": "oui",
        "common.no": "non",
        "common.back": "Retour",
        "common.seconds": "{value} s",
    },
}


def negotiate(accept_language: str | None, user: User | None = None) -> str:
    """The user's chosen language, else the first supported one in `Accept-Language`, else English."""
    if user is not None and user.language in LANGUAGES:
        return str(user.language)
    ranked: list[tuple[float, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality + position * 1e-6, primary))
    return min(ranked)[1] if ranked else "en"


def translator(language: str) -> Translator:
    catalogue = MESSAGES.get(language, MESSAGES["en"])

    def translate(key: str, **values: object) -> str:
        text = catalogue.get(key) or MESSAGES["en"][key]
        return text.format(**values) if values else text

    return translate
