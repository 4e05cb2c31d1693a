"""The ``rag`` command: index, ask, search, eval, status, serve, remove. Thin: it calls ``Assistant``."""
from __future__ import annotations

import json
import logging
import sys
import textwrap

import click

from .assistant import Assistant
from .config import MODES, Settings, hub_offline
from .errors import RagError
from .listen import check_listen
from .types import Answer, Filters, Hit


def _settings(ctx: click.Context, **overrides) -> Settings:
    return Settings.from_env(**ctx.obj, **overrides)


def _open(ctx: click.Context, build: bool = True, **overrides) -> Assistant:
    return Assistant.open(settings=_settings(ctx, **overrides), build=build, progress=ctx.meta["progress"])


class UserError(click.ClickException):
    """An error the user can act on: printed as one ``error: ...`` line on stderr."""

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class Interrupted(click.ClickException):
    """Ctrl-C: one word, and the shell's exit code for it."""

    exit_code = 130

    def show(self, file=None) -> None:
        click.echo("interrupted", err=True)


class RagGroup(click.Group):
    """The command group; turns the errors a user can act on into one line and an exit code.

    Done here rather than around ``main()`` so ``click.testing.CliRunner`` sees what a user sees.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except RagError as exc:
            raise UserError(str(exc)) from None
        except OSError as exc:  # e.g. an unwritable --json path: the file and the reason
            logging.getLogger(__name__).debug("%s", exc, exc_info=True)  # -vv shows where
            where = f": {exc.filename}" if exc.filename else ""
            raise UserError(f"{exc.strerror or exc}{where}") from None
        except KeyboardInterrupt:
            raise Interrupted("interrupted") from None
        except (click.ClickException, click.exceptions.Abort, click.exceptions.Exit):
            raise
        except Exception as exc:  # a defect: still one line for the user, the traceback at -vv
            logging.getLogger(__name__).debug("unexpected error", exc_info=True)
            raise UserError(f"unexpected {type(exc).__name__}: {exc} (this is a bug; rerun with -vv "
                            "to see where)") from None


@click.group(cls=RagGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--seeds", "seeds_dir", type=click.Path(file_okay=False), help="Folder of articles [seeds/].")
@click.option("--index", "index_dir", type=click.Path(file_okay=False), help="Index folder [index/].")
@click.option("--backend", "embed_backend", help="Embedder backend: sentence-transformers or onnx.")
@click.option("--model", "embed_model", help="Embedding model name or path (default: the bundled one).")
@click.option("--reranker", help="Reranker: none or cross-encoder.")
@click.option("--store", help="Where the index lives: local (the --index folder) or a postgresql://… URL [local].")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def main(ctx, seeds_dir, index_dir, embed_backend, embed_model, reranker, store, no_progress, verbose):
    """Ask questions about the articles in seeds/ and get answers quoted from them."""
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("bm25s").setLevel(logging.DEBUG if verbose > 1 else logging.WARNING)
    hub_offline()
    ctx.obj = {"seeds_dir": seeds_dir, "index_dir": index_dir, "embed_backend": embed_backend,
               "embed_model": embed_model, "reranker": reranker, "store": store}
    ctx.meta["progress"] = not no_progress and sys.stderr.isatty()


@main.command()
@click.option("--allow-empty", is_flag=True,
              help="Build even when the seeds folder has nothing to index (empties the index).")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
              help="Embed on Ray: alone, a local cluster on this machine; or a cluster ADDRESS (auto, ray://head:10001).")
@click.option("--ray-workers", "ray_concurrency", type=click.IntRange(1), help="Ray embedding actors [2].")
@click.pass_context
def index(ctx, allow_empty, ray_address, ray_concurrency):
    """Build or update the index from the seeds folder (only new or changed files are embedded)."""
    a = Assistant(_settings(ctx, ray_address=ray_address, ray_concurrency=ray_concurrency))
    report = a.rebuild(progress=ctx.meta["progress"], allow_empty=allow_empty)
    click.echo(report.summary())


def filter_options(command):
    """--outlet, --author, --article, --since, --until: which articles a question may draw on."""
    for option in reversed([
        click.option("--outlet", help="Only articles of this outlet (e.g. Substack)."),
        click.option("--author", help="Only articles by this author."),
        click.option("--article", help="Only this article (its title or id)."),
        click.option("--since", help="Only articles published on or after this date (YYYY-MM-DD)."),
        click.option("--until", help="Only articles published on or before this date (YYYY-MM-DD)."),
    ]):
        command = option(command)
    return command


def _filters(outlet, author, article, since, until) -> Filters:
    return Filters(outlet=outlet, author=author, article=article, since=since, until=until)


@main.command()
@click.argument("question")
@click.option("-k", type=click.IntRange(1, 50), help="Passages to retrieve [5].")
@click.option("--mode", type=click.Choice(MODES), help="Retrieval mode [hybrid].")
@click.option("--answerer", "-a", help="extractive (default) or llm.")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@filter_options
@click.pass_context
def ask(ctx, question, k, mode, answerer, as_json, **filters):
    """Answer QUESTION from the articles (those passing the filters), then list its sources."""
    a = _open(ctx, answerer=answerer)
    stream = a.ask_stream(question, k=k, mode=mode, filters=_filters(**filters))
    for part in stream:
        if not as_json:
            click.echo(part, nl=False)
    final = stream.answer
    if as_json:
        click.echo(json.dumps(final.to_dict(), ensure_ascii=False, indent=2))
        return
    click.echo()
    if stream.streamed_text.strip() != final.text.strip():  # markers cleaned, or a fallback answer
        click.echo("\n" + final.text)
    click.echo(render_sources(final))
    if not final.hits and _filters(**filters):
        click.echo("\nNo passage matches the filters.")


QUOTE_CHARS = 240  # a printed citation quotes at most this much of its sentence


def render_sources(ans: Answer) -> str:
    """The notice, unsupported sentences and numbered sources printed under an answer.

    Each source is short: title and byline, the quoted sentence (shortened past ``QUOTE_CHARS``;
    the passage's opening if nothing was quoted), and the file with the quote's character offsets.
    """
    out = []
    if ans.notice:
        out.append(f"\nNote: {ans.notice}")
    for s in ans.unsupported:
        out.append(f"  ⚠ not supported by its sources: {s}")
    if ans.citations:
        out.append("\nSources:")
        for c in ans.citations:
            span = (c.quote_start, c.quote_end) if c.quote and c.quote_start is not None else None
            quote = textwrap.shorten(" ".join((c.quote or c.chunk.text).split()), QUOTE_CHARS, placeholder=" …")
            out.append(f"[{c.n}] {_title_line(c.chunk)}")
            out.append(textwrap.indent(textwrap.fill(f"“{quote}”", 96), "     "))
            out.append(f"     {_where(c.chunk, span)}")
    elif ans.hits:
        out.append("\nClosest passages:")
        for h in ans.hits[:3]:
            out.append(_source_line("  -", h.chunk))
            out.append(f"     “{textwrap.shorten(h.chunk.text, 180, placeholder=' …')}”")
    return "\n".join(out)


def _title_line(chunk) -> str:
    return f"{chunk.title} — {chunk.byline}" if chunk.byline else chunk.title


def _where(chunk, span: tuple[int, int] | None = None) -> str:
    start, end = span or (chunk.start, chunk.end)
    return f"{chunk.source}, characters {start}–{end}"


def _source_line(label: str, chunk) -> str:
    return f"{label} {_title_line(chunk)}\n     {_where(chunk)}"


@main.command()
@click.argument("question")
@click.option("-k", type=click.IntRange(1, 100), help="Passages to return [5].")
@click.option("--mode", type=click.Choice(MODES), help="Retrieval mode [hybrid].")
@click.option("--json", "as_json", is_flag=True, help="Print the hits as JSON lines.")
@filter_options
@click.pass_context
def search(ctx, question, k, mode, as_json, **filters):
    """List the passages that best match QUESTION (those passing the filters), with scores and sources."""
    a = _open(ctx)
    for h in a.search(question, k=k, mode=mode, filters=_filters(**filters)):
        if as_json:
            click.echo(json.dumps(h.to_dict(), ensure_ascii=False))
        else:
            click.echo(_hit_block(h))


def _hit_block(h: Hit) -> str:
    text = textwrap.indent(textwrap.fill(" ".join(h.chunk.text.split()), 96), "     ")
    return f"{_source_line(f'{h.rank}. ({h.score:.3f})', h.chunk)}\n{text}\n"


@main.command("eval")
@click.argument("questions", type=click.Path(exists=True, dir_okay=False))
@click.option("-k", default=5, show_default=True, type=click.IntRange(1, 50))
@click.option("--mode", type=click.Choice(MODES))
@click.option("--answerer", "-a")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write the report as JSON.")
@click.option("--show", is_flag=True, help="Print every question with its answer.")
@click.pass_context
def eval_(ctx, questions, k, mode, answerer, json_path, show):
    """Score a question file (JSON lines like tests/dev.jsonl): hit@k, MRR, answer and refusal accuracy."""
    from .evaluate import evaluate, load_questions

    a = _open(ctx)
    report = evaluate(a, load_questions(questions), k=k, mode=mode, answerer=answerer)
    if show:
        for r in report.rows:
            mark = "ok " if r.get("correct") else "BAD"
            click.echo(f"{mark} {r['question']}\n    -> {r['answer'][:200]}")
    click.echo(report.summary())
    if json_path:
        with open(json_path, "w", encoding="utf-8") as fh:
            json.dump(report.to_dict(), fh, ensure_ascii=False, indent=2)


@main.command()
@click.pass_context
def status(ctx):
    """Show what the index holds."""
    a = _open(ctx, build=False)
    s = a.status()
    click.echo(f"{s['documents']} documents, {s['passages']} passages, model {s['model']}, built {s['built_at']}")
    click.echo(f"store: {s['store']} at {s['location']}")  # no password: the store scrubs it
    for t in s["titles"]:
        click.echo(f"  - {t}")


@main.command()
@click.option("--host", help="Address to listen on [RAG_HOST, else 127.0.0.1].")
@click.option("--port", type=int, help="Port [RAG_PORT, else 7860].")
@click.option("--open-browser", is_flag=True, help="Open the page in a browser.")
@click.pass_context
def serve(ctx, host, port, open_browser):
    """Open the chat page (building the index first if it is missing or stale)."""
    settings = _settings(ctx, host=host, port=port)
    check_listen(settings.host, settings.port)  # before Gradio is imported and the index built
    from rag.ui.server import serve as serve_app

    a = Assistant(settings)
    click.echo(a.rebuild(progress=ctx.meta["progress"]).summary())
    serve_app(assistant=a, host=settings.host, port=settings.port, auth=settings.auth, open_browser=open_browser)


@main.command()
@click.argument("file")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before deleting.")
@click.pass_context
def remove(ctx, file, yes):
    """Delete FILE from the seeds folder and drop its articles from the index (asks first)."""
    from .documents import seed_file

    a = Assistant(_settings(ctx))
    path = seed_file(a.settings.seeds_dir, file)  # an unknown name fails before anything is asked
    if not yes:
        click.confirm(f"Delete {path} and drop its articles from the index?", abort=True, err=True)
    click.echo(a.remove_document(file, progress=ctx.meta["progress"]).summary())


def run() -> None:
    """Entry point (``rag``): errors the user can act on print one line, not a traceback."""
    main()


if __name__ == "__main__":
    run()
