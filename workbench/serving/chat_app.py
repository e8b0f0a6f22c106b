"""The Gradio chat of an SFT run: a chat view with the run's system prompt and a model-card tab, served with
sign-in, limits, the queue and the audit log like the sequence demos.

Run as::

    workbench serve SFT_RUN_DIR [--host 127.0.0.1] [--port 7860] [--auth-file FILE]
"""

from pathlib import Path

import gradio as gr

from .auth import load_credentials, require_credentials
from .chat import ChatRun
from .launch import card_tab, launch, record_query, ui_errors
from .limits import limits_for


def serve_chat(run_dir: str | Path, host: str = "127.0.0.1", port: int = 7860, block: bool = True,
               auth_file: str | Path | None = None, limits=None, credentials=None):
    """Serves a Gradio chat (``gr.ChatInterface``) for an SFT run, showing the run's system prompt, with a
    model-card tab; sign-in, limits, queue, audit and no share link as for the sequence demos
    (:func:`workbench.serving.launch.launch`).

    Returns:
        ``(demo, local_url)``.

    Raises:
        workbench.serving.auth.AuthError: Binding beyond loopback without credentials.
    """
    credentials = credentials or load_credentials(auth_file)
    require_credentials(host, credentials)
    limits = limits or limits_for(run_dir)
    run = ChatRun.load(run_dir)
    target = str(run.run_dir)

    def answer(message, history, request: gr.Request):
        with ui_errors():
            text = limits.check_text(message, "the message")
            if not text.strip():
                raise ValueError("the message is empty: type a question first.")
            reply = run.reply(text, history)
            record_query(target, request, "chat", [text], turns=len(history or []) + 1)
            return reply

    card = (run.run_dir / "README.md").read_text() if (run.run_dir / "README.md").is_file() else ""
    with gr.Blocks(title=f"Chat: {run.run_dir.name}", analytics_enabled=False) as demo:
        with gr.Tab("Chat"):
            system = run.task.get("system_prompt") or "(none)"
            gr.Markdown(f"### Chat: {run.run_dir.name}\nLoRA adapter trained with the workbench; greedy answers, on "
                        f"this machine.\n\n**System prompt:** {system}", elem_id="system_prompt")
            gr.ChatInterface(answer, examples=[s["prompt"] for s in run.task.get("examples", [])][:4] or None,
                             api_name="chat")
        card_tab(run.run_dir, card)
    url = launch(demo, target, host, port, credentials, limits, [str(run.run_dir.resolve())], kind="chat")
    print(f"Chat running at {url}" + (" (sign-in required)" if credentials else "") + " (Ctrl+C to stop)", flush=True)
    if block:
        demo.block_thread()
    return demo, url
