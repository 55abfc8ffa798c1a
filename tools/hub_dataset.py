#!/usr/bin/env python3
"""Place a small stand-in for HuggingFaceH4/Multilingual-Thinking in a Hugging Face cache, so that the real
``load_dataset("HuggingFaceH4/Multilingual-Thinking", split="train")`` runs offline (``HF_HUB_OFFLINE=1``).

    python tools/hub_dataset.py --cache DIR [--rows 40]
    HF_HOME=DIR HF_HUB_OFFLINE=1 python -c 'from datasets import load_dataset; print(load_dataset("HuggingFaceH4/Multilingual-Thinking", split="train"))'

The rows are generated deterministically in the hub's exact schema and shape: columns reasoning_language, developer
(the persona only), user, analysis, final, messages (system message ``reasoning language: X`` + persona, user,
assistant with ``thinking``); user and final mostly English, the analysis in the reasoning language; a few long rows
that truncation cuts. They are a test fixture, not the real data (the card says so).

Two places are written under DIR (= HF_HOME), as a first online ``load_dataset`` leaves them:
- ``hub/datasets--HuggingFaceH4--Multilingual-Thinking/``: ``refs/main``, ``blobs/``, and
  ``snapshots/<rev>/{README.md, data/train-00000-of-00001.parquet}`` (the repository's files);
- ``datasets/HuggingFaceH4___multilingual-thinking/default/0.0.0/<rev>/``: the Arrow cache that ``datasets`` reads
  when the hub cannot be asked (with ``HF_HUB_OFFLINE=1`` it never opens the hub cache), built from the snapshot by
  the same Parquet builder ``load_dataset`` uses online.
An existing copy of another revision is never replaced: the tool stops and says so.
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

HUB_ID = "HuggingFaceH4/Multilingual-Thinking"
PARQUET_NAME = "data/train-00000-of-00001.parquet"
CONFIG = "default"

LANGS = ("English", "French", "German", "Spanish", "Italian")
PERSONAS = (
    "You are an AI chatbot with a lively and energetic personality.",
    "You are a patient assistant who explains things step by step.",
    "You are a concise assistant who answers in a few sentences.",
    "You are a friendly travel guide who loves local food.",
    "You are a careful assistant for small business owners.",
    "You are a cheerful fitness coach.",
    "You are a calm and thoughtful study helper.",
    "You are an assistant who always gives practical examples.",
)
# (topic in each reasoning language, English question, English answer, non-English question for some rows)
TOPICS = (
    ({"English": "a weekly meal plan", "French": "un menu pour la semaine", "German": "einen Wochenspeiseplan",
      "Spanish": "un menú semanal", "Italian": "un menù settimanale"},
     "Can you help me plan healthy meals for the week?",
     "Sure! Start with oatmeal breakfasts, add a vegetable soup for lunch and keep fish twice a week.",
     ("French", "Peux-tu m'aider à planifier des repas sains pour la semaine ?",
      "Bien sûr ! Des flocons d'avoine le matin, une soupe de légumes à midi et du poisson deux fois par semaine.")),
    ({"English": "learning to play the guitar", "French": "apprendre la guitare", "German": "Gitarre lernen",
      "Spanish": "aprender a tocar la guitarra", "Italian": "imparare a suonare la chitarra"},
     "How should I start learning the guitar as an adult?",
     "Practise fifteen minutes a day, learn four basic chords first and play songs you love.",
     ("German", "Wie fange ich als Erwachsener mit der Gitarre an?",
      "Übe täglich fünfzehn Minuten, lerne zuerst vier Grundakkorde und spiele Lieder, die du magst.")),
    ({"English": "a trip to Lisbon", "French": "un voyage à Lisbonne", "German": "eine Reise nach Lissabon",
      "Spanish": "un viaje a Lisboa", "Italian": "un viaggio a Lisbona"},
     "What should I see on a three-day trip to Lisbon?",
     "Walk through Alfama, take tram 28, visit Belém and end with a sunset at a miradouro.",
     None),
    ({"English": "saving money", "French": "économiser de l'argent", "German": "Geld sparen",
      "Spanish": "ahorrar dinero", "Italian": "risparmiare denaro"},
     "What are simple ways to save money every month?",
     "Track your spending, cancel unused subscriptions and move a fixed amount to savings on payday.",
     ("Spanish", "¿Cómo puedo ahorrar dinero cada mes?",
      "Anota tus gastos, cancela suscripciones que no usas y ahorra una cantidad fija cada mes.")),
    ({"English": "a cover letter", "French": "une lettre de motivation", "German": "ein Anschreiben",
      "Spanish": "una carta de presentación", "Italian": "una lettera di presentazione"},
     "Can you give me tips for writing a cover letter?",
     "Open with the role you want, show two achievements that match it and close with a clear next step.",
     None),
    ({"English": "sleeping better", "French": "mieux dormir", "German": "besser schlafen",
      "Spanish": "dormir mejor", "Italian": "dormire meglio"},
     "I keep waking up at night. How can I sleep better?",
     "Keep a regular bedtime, avoid screens an hour before sleep and keep the bedroom cool and dark.",
     ("Italian", "Mi sveglio spesso di notte. Come posso dormire meglio?",
      "Vai a letto sempre alla stessa ora, evita gli schermi prima di dormire e tieni la camera fresca.")),
    ({"English": "a birthday party", "French": "une fête d'anniversaire", "German": "eine Geburtstagsfeier",
      "Spanish": "una fiesta de cumpleaños", "Italian": "una festa di compleanno"},
     "Do you have ideas for a small birthday party at home?",
     "Pick a theme, prepare finger food, plan two simple games and make a playlist in advance.",
     None),
    ({"English": "growing tomatoes", "French": "cultiver des tomates", "German": "Tomaten anbauen",
      "Spanish": "cultivar tomates", "Italian": "coltivare pomodori"},
     "How do I grow tomatoes on a balcony?",
     "Use a deep pot, give them six hours of sun, water at the base and tie the stems to a stake.",
     None),
)
# Two sentences of reasoning per language, about the topic.
ANALYSIS = {
    "English": ("The user is asking about {t}. I should give a few clear, practical steps and keep a friendly tone.",
                " Let me think about what matters most for {t} and put it in a sensible order."),
    "French": ("L'utilisateur pose une question sur {t}. Je dois donner quelques conseils clairs et pratiques, avec "
               "un ton amical.", " Réfléchissons à ce qui compte le plus pour {t} et mettons-le dans un ordre logique."),
    "German": ("Der Nutzer fragt nach {t}. Ich sollte ein paar klare, praktische Schritte nennen und freundlich "
               "bleiben.", " Überlegen wir, was bei {t} am wichtigsten ist, und bringen wir es in eine sinnvolle "
               "Reihenfolge."),
    "Spanish": ("El usuario pregunta sobre {t}. Debo dar algunos pasos claros y prácticos con un tono amable.",
                " Pensemos qué es lo más importante para {t} y pongámoslo en un orden lógico."),
    "Italian": ("L'utente chiede di {t}. Devo dare alcuni passi chiari e pratici con un tono cordiale.",
                " Pensiamo a cosa conta di più per {t} e mettiamolo in un ordine sensato."),
}
LONG_ANALYSIS_ROWS = (5, 17, 29)  # these analyses are long enough that truncation at 512-1024 tokens cuts them
LONG_USER_ROW = 23  # this question is so long that truncation cuts the whole assistant turn away


def make_rows(n: int = 40) -> list[dict]:
    """``n`` rows in the hub's schema, the same on every run."""
    rows = []
    for i in range(n):
        language = LANGS[i % len(LANGS)]
        persona = PERSONAS[(i * 3) % len(PERSONAS)]
        topic, question, answer, other = TOPICS[(i // len(LANGS) + i) % len(TOPICS)]
        if other is not None and i % 4 == 3:  # about one row in six asks in another language
            question, answer = other[1], other[2]
        if i >= 40:  # the combinations repeat every 40 rows: keep larger fixtures free of duplicate rows
            question = f"{question} (question {i + 1})"
        first, second = ANALYSIS[language]
        analysis = first.format(t=topic[language]) + second.format(t=topic[language])
        if i in LONG_ANALYSIS_ROWS:
            analysis = " ".join([analysis] * 40)
        if i == LONG_USER_ROW:
            question = question + " Here is everything about my situation: " + " ".join(
                [f"Point {k}: I tried many things before and I want to explain each of them in detail."
                 for k in range(1, 160)])
        rows.append({
            "reasoning_language": language,
            "developer": persona,
            "user": question,
            "analysis": analysis,
            "final": answer,
            "messages": [
                {"content": f"reasoning language: {language}\n\n{persona}", "role": "system", "thinking": None},
                {"content": question, "role": "user", "thinking": None},
                {"content": answer, "role": "assistant", "thinking": analysis},
            ],
        })
    return rows


def features():
    from datasets import Features, List, Value

    message = {"content": Value("string"), "role": Value("string"), "thinking": Value("string")}
    return Features({name: Value("string") for name in ("reasoning_language", "developer", "user", "analysis",
                                                          "final")} | {"messages": List(message)})


def card(n_rows: int) -> str:
    return f"""---
dataset_info:
  features:
  - name: reasoning_language
    dtype: string
  - name: developer
    dtype: string
  - name: user
    dtype: string
  - name: analysis
    dtype: string
  - name: final
    dtype: string
  - name: messages
    list:
    - name: content
      dtype: string
    - name: role
      dtype: string
    - name: thinking
      dtype: string
  splits:
  - name: train
    num_examples: {n_rows}
configs:
- config_name: {CONFIG}
  data_files:
  - split: train
    path: data/train-*
license: apache-2.0
pretty_name: Multilingual-Thinking (offline test fixture)
---

# Multilingual-Thinking: offline test fixture

{n_rows} generated rows in the schema of {HUB_ID}, written by `tools/hub_dataset.py` so that the hub code path runs
without a network. Not the real dataset.
"""


def _link(blobs: Path, target: Path, data: bytes) -> None:
    """Store ``data`` as a blob named by its sha256 and point ``target`` at it, as huggingface_hub does."""
    blob = blobs / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        target.unlink()
    try:
        target.symlink_to(os.path.relpath(blob, target.parent))
    except OSError:  # no symlinks (some Windows setups): huggingface_hub then copies too
        shutil.copyfile(blob, target)


def _refuse_other_revision(folder: Path, revision: str, what: str) -> None:
    others = sorted(p.name for p in folder.iterdir() if p.name != revision) if folder.is_dir() else []
    if others:
        raise SystemExit(f"{folder} already holds {what} {', '.join(others)} (another copy of {HUB_ID}, perhaps the "
                         "real one); not touching it. Choose another --cache folder.")


def place(cache: str | os.PathLike, rows: list[dict]) -> dict:
    """Write the rows into the hub cache and the datasets cache under ``cache`` (HF_HOME); returns the paths."""
    import datasets
    from datasets.load import LocalDatasetModuleFactory, get_dataset_builder_class
    from datasets.naming import camelcase_to_snakecase

    cache = Path(cache).resolve()
    revision = hashlib.sha1(json.dumps(rows, sort_keys=True).encode("utf-8")).hexdigest()
    repo = cache / "hub" / f"datasets--{HUB_ID.replace('/', '--')}"
    _refuse_other_revision(repo / "snapshots", revision, "snapshot(s)")
    name = camelcase_to_snakecase(HUB_ID.split("/")[1])
    arrow_root = cache / "datasets" / f"{HUB_ID.split('/')[0]}___{name}" / CONFIG / "0.0.0"
    _refuse_other_revision(arrow_root, revision, "prepared revision(s)")

    snapshot = repo / "snapshots" / revision
    table = datasets.Dataset.from_list(rows, features=features())
    parquet_tmp = cache / f".{revision}.parquet"
    cache.mkdir(parents=True, exist_ok=True)
    table.to_parquet(str(parquet_tmp))
    _link(repo / "blobs", snapshot / PARQUET_NAME, parquet_tmp.read_bytes())
    parquet_tmp.unlink()
    _link(repo / "blobs", snapshot / "README.md", card(len(rows)).encode("utf-8"))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)

    # The Arrow cache, as load_dataset prepares it online: the card's config, the repo id, the revision as hash.
    module = LocalDatasetModuleFactory(str(snapshot)).get_module()
    builder_cls = get_dataset_builder_class(module, dataset_name=name)
    builder = builder_cls(cache_dir=str(cache / "datasets"), dataset_name=name, config_name=CONFIG, hash=revision,
                          repo_id=HUB_ID, base_path=module.builder_kwargs["base_path"],
                          info=module.dataset_infos.get(CONFIG) if module.dataset_infos else None)
    builder.download_and_prepare()
    written = {"hub_snapshot": str(snapshot), "datasets_cache": builder.cache_dir, "revision": revision,
               "rows": len(rows)}
    # Arrow's background threads must finish while Python is alive, or the interpreter may abort on exit
    # ("terminate called without an active exception", apache/arrow#34314): drop the Arrow objects now.
    del builder, module, table
    gc.collect()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", required=True, help="the HF_HOME folder to write into (hub/ and datasets/ inside)")
    parser.add_argument("--rows", type=int, default=40, help="number of rows (default 40)")
    args = parser.parse_args(argv)
    if args.rows < len(LANGS):
        parser.error(f"--rows must be at least {len(LANGS)} (one row per reasoning language)")
    if Path(args.cache).exists() and not Path(args.cache).is_dir():
        parser.error(f"--cache {args.cache} is a file, not a folder")
    written = place(args.cache, make_rows(args.rows))
    for key, value in written.items():
        print(f"{key}: {value}")
    print(f"use it with: HF_HOME={Path(args.cache).resolve()} HF_HUB_OFFLINE=1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
