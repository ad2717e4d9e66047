"""The Gradio page of ``recsmith app``: a user's history and recommendations (one model or two side by
side), each recommendation's explanation, similar items, text and image search, and an anonymous
session built by clicking items.

Offline by construction (checked for the pinned gradio 6.31): analytics and the version check are
off (``GRADIO_ANALYTICS_ENABLED=False``, ``analytics_enabled=False``: no calls to api.gradio.app,
and gradio then sets ``HF_HUB_DISABLE_TELEMETRY``), no share link, no server-side rendering (no
Node), and the theme's fonts are the ones gradio ships (served by the app itself, never Google Fonts).
Item images are shown only from local files. The browser test asserts that the page makes no request
outside the app's own address.

Long work (loading a model, encoding the catalogue for text search) runs in the background or in
the queue with a progress bar; the rest of the page stays usable. Input the app cannot use gives a
message on the page, never a traceback (:func:`_guard`).
"""

# no ``from __future__ import annotations``: gradio reads the handlers' annotations (``gr.SelectData``) as objects
import functools
import os
import random
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from recsmith.app import views
from recsmith.app.source import AppSource
from recsmith.errors import RecsmithError
from recsmith.utils.logging import log

NONE = "(none)"
DEFAULT_K = 10


@dataclass(frozen=True)
class AppOptions:
    """What ``recsmith app`` was started with, besides the source."""

    text_columns: tuple[str, ...] = ("name",)
    text_model: str | None = None
    image_model: str | None = None


def offline_environment() -> None:
    """Environment that keeps gradio and the Hugging Face libraries off the network; set before import."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("GRADIO_SSR_MODE", "False")


def _guard(n_outputs: int, status_index: int = 0) -> Callable:
    """Wrap a handler so any failure becomes a message in its status output (position ``status_index``)
    and the other outputs keep their values; unexpected errors are logged with their traceback on
    the server, never shown."""
    import gradio as gr

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)  # gradio reads the signature: gr.Progress defaults, gr.SelectData annotations
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except RecsmithError as err:
                message = f"⚠️ {err}"
            except Exception as err:  # a bug: keep the page working, log it for the operator
                log(f"app: {fn.__name__} failed:\n{traceback.format_exc()}")
                message = f"⚠️ Something went wrong ({err.__class__.__name__}); the details are in the server log."
            out: list[Any] = [gr.skip()] * n_outputs
            out[status_index] = message
            return tuple(out) if n_outputs > 1 else out[0]

        return run

    return wrap


def _waiting(src: AppSource, models: list[str], progress: Any) -> None:
    """Show a progress bar while a model is still loading (the first request after start)."""
    pending = [m for m in models if not src.is_loaded(m)]
    for n, name in enumerate(pending):
        progress((n, len(pending)), desc=f"loading model {name}")
        src.engine(name)


def build_app(src: AppSource, options: AppOptions = AppOptions()):
    """The Gradio Blocks of the app (not launched)."""
    import gradio as gr

    models = src.model_names
    users = src.sample_users()
    search = views.TextSearch(src, list(options.text_columns), options.text_model)

    with gr.Blocks(title="recsmith", analytics_enabled=False) as demo:
        gr.Markdown(
            f"# recsmith · {src.title}\n{src.n_users:,} users · {src.n_items:,} items · models: {', '.join(models)}"
        )
        with gr.Tabs():
            # ------------------------------------------------------------ a user
            with gr.Tab("User", id="user"):
                with gr.Row():
                    user = gr.Dropdown(
                        choices=users,
                        value=None,
                        label="User id (pick, or type any id)",
                        allow_custom_value=True,
                        filterable=True,
                        elem_id="user-id",
                        scale=3,
                    )
                    lucky = gr.Button("Random user", elem_id="random-user", scale=1)
                    model_a = gr.Dropdown(choices=models, value=models[0], label="Model", elem_id="model-a", scale=2)
                    model_b = gr.Dropdown(
                        choices=[NONE, *models], value=NONE, label="Compare with", elem_id="model-b", scale=2
                    )
                    k = gr.Slider(1, 50, value=DEFAULT_K, step=1, label="List length", scale=2)
                status = gr.Markdown(elem_id="user-status")
                with gr.Row():
                    with gr.Column(scale=2):
                        history_gallery = gr.Gallery(label="History images", visible=False, columns=6, height=160)
                        history = gr.Dataframe(label="History", interactive=False, elem_id="history", max_height=360)
                    with gr.Column(scale=3):
                        recs_a = gr.Dataframe(label="Recommendations", interactive=False, elem_id="recs-a", wrap=True)
                        recs_gallery = gr.Gallery(label="Recommended images", visible=False, columns=10, height=160)
                    with gr.Column(scale=3, visible=False) as column_b:
                        recs_b = gr.Dataframe(label="Compared model", interactive=False, elem_id="recs-b", wrap=True)
                overlap = gr.Markdown(elem_id="overlap")
                metrics = gr.Dataframe(label="Beyond accuracy of the shown lists", interactive=False, elem_id="metrics")
                gr.Markdown("### Why? Click a recommendation, or pick its rank")
                with gr.Row():
                    explain_list = gr.Radio(
                        choices=["A"], value="A", label="List", elem_id="explain-list", visible=False
                    )
                    explain_rank = gr.Dropdown(choices=[], label="Explain recommendation #", elem_id="explain-rank")
                explanation = gr.Markdown(elem_id="explanation")
                reasons = gr.Dataframe(label="Reasons", interactive=False, elem_id="reasons")
                view_a, view_b = gr.State(None), gr.State(None)

            # ------------------------------------------------------------ similar items
            with gr.Tab("Similar items", id="similar"):
                with gr.Row():
                    item = gr.Textbox(label="Item id", elem_id="similar-item", scale=3)
                    similar_model = gr.Dropdown(choices=models, value=models[0], label="Model", scale=2)
                    similar_go = gr.Button("Find similar items", elem_id="similar-go", scale=1)
                similar_status = gr.Markdown(elem_id="similar-status")
                similar = gr.Dataframe(label="Similar items (click one to add it to the session)", interactive=False)

            # ------------------------------------------------------------ search
            with gr.Tab("Search", id="search"):
                with gr.Row():
                    query = gr.Textbox(label="Search the catalogue by text", elem_id="query", scale=4)
                    query_go = gr.Button("Search", elem_id="search-go", scale=1)
                with gr.Row():
                    image = gr.File(label="…or by image (upload a picture)", type="filepath", elem_id="image-file")
                    image_go = gr.Button("Search by image", elem_id="image-go")
                search_status = gr.Markdown(elem_id="search-status")
                results = gr.Dataframe(
                    label="Results (click one to add it to the session)", interactive=False, elem_id="search-results"
                )

            # ------------------------------------------------------------ anonymous session
            with gr.Tab("Session", id="session"):
                gr.Markdown("Click items in the search results, similar items or the lists below to build a session.")
                with gr.Row():
                    session_model = gr.Dropdown(choices=models, value=models[0], label="Model", scale=2)
                    clear = gr.Button("Clear the session", elem_id="session-clear", scale=1)
                session_status = gr.Markdown(elem_id="session-status")
                with gr.Row():
                    session_table = gr.Dataframe(label="Session (oldest first)", interactive=False, elem_id="session")
                    session_recs = gr.Dataframe(
                        label="Recommended for the session (click to add)", interactive=False, elem_id="session-recs"
                    )
                session = gr.State([])

        # ---------------------------------------------------------------- events: a user
        user_outputs = [
            status,
            history,
            history_gallery,
            recs_a,
            recs_gallery,
            recs_b,
            column_b,
            overlap,
            metrics,
            view_a,
            view_b,
            explain_list,
            explain_rank,
            explanation,
            reasons,
        ]

        @_guard(len(user_outputs))
        def show_user(user_id, a, b, k, progress=gr.Progress()):
            compare = b if b not in (None, NONE, a) else None
            _waiting(src, [a] + ([compare] if compare else []), progress)
            hist = views.user_history(src, user_id, a)
            first = views.user_recommendations(src, user_id, a, int(k))
            second = views.user_recommendations(src, user_id, compare, int(k)) if compare else None
            shown = [first] + ([second] if second else [])
            notes = [f"{v.model}: {v.note}" for v in shown if v.note]
            text, table = views.explanation(first, 1) if len(first.items) else ("", pd.DataFrame())
            return (
                " ".join([hist.message, *notes]),
                hist.table,
                gr.Gallery(value=hist.gallery, visible=bool(hist.gallery)),
                gr.Dataframe(value=first.table, label=f"Recommendations: {a}"),
                gr.Gallery(value=first.gallery, visible=bool(first.gallery)),
                gr.Dataframe(value=second.table if second else None, label=f"Recommendations: {compare}"),
                gr.Column(visible=second is not None),
                views.overlap(first, second) if second else "",
                views.list_metrics(src, shown),
                first,
                second,
                gr.Radio(
                    choices=[(a, "A")] + ([(compare, "B")] if second else []), value="A", visible=second is not None
                ),
                gr.Dropdown(choices=list(range(1, len(first.items) + 1)), value=1 if len(first.items) else None),
                text,
                table,
            )

        inputs = [user, model_a, model_b, k]
        for trigger in (user.input, user.select, model_a.change, model_b.change, k.release):
            trigger(show_user, inputs, user_outputs, show_progress="minimal")

        def random_user():
            return random.choice(users) if users else None

        lucky.click(random_user, None, user).then(show_user, inputs, user_outputs)

        explain_outputs = [explanation, reasons]

        @_guard(len(explain_outputs))
        def explain(which, rank, a_view, b_view):
            view = b_view if which == "B" and b_view is not None else a_view
            if view is None or rank in (None, ""):
                return "Pick a user first.", pd.DataFrame()
            return views.explanation(view, int(rank))

        explain_rank.input(explain, [explain_list, explain_rank, view_a, view_b], explain_outputs)
        explain_list.input(explain, [explain_list, explain_rank, view_a, view_b], explain_outputs)

        def clicked(which: str):
            @_guard(len(explain_outputs) + 2)
            def on_select(a_view, b_view, evt: gr.SelectData):
                rank = int(evt.index[0]) + 1
                view = a_view if which == "A" else b_view
                return (*views.explanation(view, rank), gr.Radio(value=which), gr.Dropdown(value=rank))

            return on_select

        recs_a.select(clicked("A"), [view_a, view_b], [*explain_outputs, explain_list, explain_rank])
        recs_b.select(clicked("B"), [view_a, view_b], [*explain_outputs, explain_list, explain_rank])

        # ---------------------------------------------------------------- events: similar items
        @_guard(2)
        def show_similar(item_id, model, progress=gr.Progress()):
            _waiting(src, [model], progress)
            return views.similar_items(src, model, item_id, DEFAULT_K)

        for trigger in (similar_go.click, item.submit):
            trigger(show_similar, [item, similar_model], [similar_status, similar])

        # ---------------------------------------------------------------- events: search
        @_guard(2)
        def text_search(text, progress=gr.Progress()):
            views.check_query(text)
            if not search.ready:
                progress(0.5, desc="encoding the catalogue for text search (once; cached)")
            table = search.search(text, DEFAULT_K)
            return f"{len(table)} items for “{text.strip()[:80]}”:", table

        for trigger in (query_go.click, query.submit):
            trigger(text_search, [query], [search_status, results])

        @_guard(2)
        def picture_search(path, progress=gr.Progress()):
            progress(0.3, desc="encoding the images")
            table = views.image_search(src, path, DEFAULT_K, options.image_model)
            return f"{len(table)} items that look like the picture:", table

        image_go.click(picture_search, [image], [search_status, results])

        # ---------------------------------------------------------------- events: the session
        session_outputs = [session_status, session, session_table, session_recs]

        def show_session(items: list[str], model: str, progress: Any, added: str = "") -> tuple:
            _waiting(src, [model], progress)
            view = views.session_recommendations(src, items, model, DEFAULT_K)
            names = src.names
            internal: Any = src.internal_items(items) if items else []
            table = pd.DataFrame({"item_id": items, "name": [names.get(int(i), "") for i in internal]})
            message = f"{added}Session of {len(items)} items · {model}" + (f" ({view.note})" if view.note else "")
            return message, items, table, view.table

        def add_from(frame_column: str = "item_id"):
            @_guard(len(session_outputs))
            def on_select(items, model, evt: gr.SelectData, progress=gr.Progress()):
                row = evt.row_value if evt.row_value is not None else []
                headers = ["rank", *views.ITEM_COLUMNS] if len(row) > 3 else views.ITEM_COLUMNS
                item_id = str(row[headers.index(frame_column)]) if row else ""
                if not item_id:
                    raise views.AppInputError("that row has no item id")
                return show_session([*items, item_id], model, progress, added=f"Added `{item_id}`. ")

            return on_select

        for table in (results, similar, session_recs):
            table.select(add_from(), [session, session_model], session_outputs)

        @_guard(len(session_outputs))
        def reset_session(model, progress=gr.Progress()):
            return show_session([], model, progress)

        clear.click(reset_session, [session_model], session_outputs)

        @_guard(len(session_outputs))
        def rescore_session(items, model, progress=gr.Progress()):
            return show_session(items, model, progress)

        session_model.change(rescore_session, [session, session_model], session_outputs)

        def on_load():
            search.start()  # encode the catalogue for text search in the background (cached after once)
            return gr.Dropdown(value=users[0] if users else None)

        demo.load(on_load, None, user).then(show_user, inputs, user_outputs)
    return demo


def launch(src: AppSource, options: AppOptions, *, host: str, port: int, block: bool = True):
    """Start the app on ``host:port`` offline (see the module docstring); models load in the background."""
    offline_environment()
    import gradio as gr

    demo = build_app(src, options)
    demo.queue(default_concurrency_limit=4)
    allowed = [str(src.image_root)] if src.image_root is not None else []
    src.warm()
    demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        ssr_mode=False,
        show_error=False,
        inbrowser=False,
        quiet=False,
        allowed_paths=allowed,
        footer_links=[],
        prevent_thread_lock=not block,
        theme=gr.themes.Default(),
    )
    return demo
