#!/usr/bin/env python3
"""Build the bundled Multilingual-Thinking-style dataset (train.jsonl, eval.jsonl, README.md).

Deterministic: running it twice produces byte-identical files.  Every problem
type below is hand-written (questions in several user languages, a chain of
thought in each reasoning language, a short final answer in the user's
language); the numbers are drawn from a seeded RNG and every result is computed
in code, never typed by hand.  Training and evaluation use *disjoint* problem
types, so no eval question is a reworded or renumbered train question.

Usage:  python data/multilingual_thinking/make_data.py
"""
from __future__ import annotations

import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20250805

TRAIN_LANGS = ["en", "fr", "de", "es", "it"]
ALL_LANGS = TRAIN_LANGS + ["zh"]
LANG_NAME = {"en": "English", "fr": "French", "de": "German", "es": "Spanish",
             "it": "Italian", "zh": "Chinese"}
COMMA_DECIMAL = {"fr", "de", "es", "it"}
CATEGORIES = ["arithmetic", "algebra", "word_problem", "logic", "percent",
              "geometry", "sequence", "units"]
FORBIDDEN = ["<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|return|>",
             "<|call|>", "<|constrain|>"]

FEM = ["Anna", "Sofia", "Clara", "Lena", "Marta", "Julia", "Elena", "Nora"]
MASC = ["Tom", "Luca", "Paul", "Marco", "David", "Leo", "Hugo", "Felix"]

DEV_EXTRAS = [
    "You are a patient maths tutor.",
    "Answer concisely.",
    "Show your working briefly, then state the final answer clearly.",
    "You are a helpful assistant.",
    "Keep the final answer to one or two sentences.",
    "Double-check the arithmetic before answering.",
    "You are a friendly teacher helping a student with homework.",
    "Be precise and brief.",
    "Reply in the same language as the user's question.",
    "Explain the key step, then give the result.",
]


class PerLang(dict):
    """A template value that depends on the language of the text it is put into."""


def num(x) -> PerLang:
    """A number written with a decimal point (en, zh) or a decimal comma (fr, de, es, it)."""
    if isinstance(x, float) and x.is_integer():
        x = int(x)
    s = f"{x:g}" if isinstance(x, float) else str(x)
    return PerLang({lg: (s.replace(".", ",") if lg in COMMA_DECIMAL else s) for lg in ALL_LANGS})


TYPES: list[dict] = []


def ptype(key, category, split, gen, q, a, f):
    assert category in CATEGORIES
    TYPES.append(dict(key=key, category=category, split=split, gen=gen,
                      q={k: (v if isinstance(v, list) else [v]) for k, v in q.items()},
                      a=a, f=f))


# =====================================================================
# TRAIN problem types
# =====================================================================

def g_mult(r):
    a = r.choice([n for n in range(12, 50) if n % 10])
    u = r.randint(2, 9)
    b = 10 + u
    return dict(a=a, b=b, u=u, a10=a * 10, au=a * u, a20=a * 20, ans=a * b)


ptype("mult_two_digit", "arithmetic", "train", g_mult,
      q={"en": ["What is {a} × {b}?", "Can you work out {a} times {b} in your head?"],
         "fr": ["Combien font {a} × {b} ?", "Calcule {a} fois {b} de tête, s'il te plaît."],
         "de": ["Wie viel ist {a} × {b}?", "Rechne bitte {a} mal {b} im Kopf aus."],
         "es": ["¿Cuánto es {a} × {b}?", "¿Puedes calcular {a} por {b} mentalmente?"],
         "it": ["Quanto fa {a} × {b}?", "Puoi calcolare a mente {a} per {b}?"]},
      a={"en": "I need {a} × {b}. Splitting {b} into 10 + {u} makes it easier to do mentally. First, {a} × 10 = {a10}. Next, {a} × {u} = {au}. Adding the two partial products gives {a10} + {au} = {ans}. The result is plausible because it must lie between {a} × 10 = {a10} and {a} × 20 = {a20}.",
         "fr": "Il faut calculer {a} × {b}. Pour le faire de tête, je décompose {b} en 10 + {u}. D'abord, {a} × 10 = {a10}. Ensuite, {a} × {u} = {au}. En additionnant les deux produits partiels, j'obtiens {a10} + {au} = {ans}. Le résultat est plausible, car il doit se situer entre {a} × 10 = {a10} et {a} × 20 = {a20}.",
         "de": "Gesucht ist {a} × {b}. Um es im Kopf zu rechnen, zerlege ich {b} in 10 + {u}. Zuerst gilt {a} × 10 = {a10}. Dann ist {a} × {u} = {au}. Die beiden Teilprodukte addiert ergeben {a10} + {au} = {ans}. Das Ergebnis ist plausibel, denn es muss zwischen {a} × 10 = {a10} und {a} × 20 = {a20} liegen.",
         "es": "Hay que calcular {a} × {b}. Para hacerlo mentalmente, descompongo {b} en 10 + {u}. Primero, {a} × 10 = {a10}. Después, {a} × {u} = {au}. Sumando los dos productos parciales obtengo {a10} + {au} = {ans}. El resultado es razonable, porque debe estar entre {a} × 10 = {a10} y {a} × 20 = {a20}.",
         "it": "Devo calcolare {a} × {b}. Per farlo a mente, scompongo {b} in 10 + {u}. Prima, {a} × 10 = {a10}. Poi, {a} × {u} = {au}. Sommando i due prodotti parziali ottengo {a10} + {au} = {ans}. Il risultato è plausibile, perché deve stare tra {a} × 10 = {a10} e {a} × 20 = {a20}."},
      f={"en": "{a} × {b} equals {ans}.", "fr": "{a} × {b} font {ans}.", "de": "{a} × {b} ergibt {ans}.",
         "es": "{a} × {b} es {ans}.", "it": "{a} × {b} fa {ans}."})


def g_order(r):
    a, b, c = r.randint(3, 20), r.randint(2, 9), r.randint(3, 9)
    s = a + b * c
    d = r.randint(2, min(15, s - 1))
    return dict(a=a, b=b, c=c, d=d, bc=b * c, s=s, ans=s - d)


ptype("order_of_operations", "arithmetic", "train", g_order,
      q={"en": ["Calculate {a} + {b} × {c} - {d}.", "What does {a} + {b} × {c} - {d} equal? Careful with the order of operations."],
         "fr": ["Calcule {a} + {b} × {c} - {d}.", "Que vaut {a} + {b} × {c} - {d} ? Attention aux priorités opératoires."],
         "de": ["Berechne {a} + {b} × {c} - {d}.", "Was ergibt {a} + {b} × {c} - {d}? Achte auf Punkt vor Strich."],
         "es": ["Calcula {a} + {b} × {c} - {d}.", "¿Cuánto vale {a} + {b} × {c} - {d}? Cuidado con el orden de las operaciones."],
         "it": ["Calcola {a} + {b} × {c} - {d}.", "Quanto vale {a} + {b} × {c} - {d}? Attenzione all'ordine delle operazioni."]},
      a={"en": "Multiplication comes before addition and subtraction, so I must not simply work from left to right. First I compute {b} × {c} = {bc}. The expression becomes {a} + {bc} - {d}. Now I go from left to right: {a} + {bc} = {s}, and {s} - {d} = {ans}. So the value is {ans}.",
         "fr": "La multiplication passe avant l'addition et la soustraction, donc je ne dois pas calculer simplement de gauche à droite. Je commence par {b} × {c} = {bc}. L'expression devient {a} + {bc} - {d}. Ensuite, de gauche à droite : {a} + {bc} = {s}, puis {s} - {d} = {ans}. La valeur est donc {ans}.",
         "de": "Punktrechnung geht vor Strichrechnung, also darf ich nicht einfach von links nach rechts rechnen. Zuerst berechne ich {b} × {c} = {bc}. Der Ausdruck wird zu {a} + {bc} - {d}. Jetzt von links nach rechts: {a} + {bc} = {s}, und {s} - {d} = {ans}. Der Wert ist also {ans}.",
         "es": "La multiplicación va antes que la suma y la resta, así que no puedo operar simplemente de izquierda a derecha. Primero calculo {b} × {c} = {bc}. La expresión queda {a} + {bc} - {d}. Ahora, de izquierda a derecha: {a} + {bc} = {s}, y {s} - {d} = {ans}. Por lo tanto, el valor es {ans}.",
         "it": "La moltiplicazione ha la precedenza su addizione e sottrazione, quindi non posso procedere semplicemente da sinistra a destra. Prima calcolo {b} × {c} = {bc}. L'espressione diventa {a} + {bc} - {d}. Ora da sinistra a destra: {a} + {bc} = {s}, e {s} - {d} = {ans}. Il valore è quindi {ans}."},
      f={"en": "The expression equals {ans}.", "fr": "L'expression vaut {ans}.", "de": "Der Ausdruck ergibt {ans}.",
         "es": "La expresión vale {ans}.", "it": "L'espressione vale {ans}."})


def g_rem(r):
    b = r.randint(3, 9)
    qq = r.randint(4, 15)
    rr = r.randint(1, b - 1)
    return dict(n=b * qq + rr, b=b, qq=qq, bq=b * qq, qq1=qq + 1, bq1=b * (qq + 1), r=rr, ans=rr)


ptype("remainder", "arithmetic", "train", g_rem,
      q={"en": ["What is the remainder when {n} is divided by {b}?", "If I divide {n} by {b}, what remainder is left over?"],
         "fr": "Quel est le reste de la division de {n} par {b} ?",
         "de": "Welcher Rest bleibt, wenn man {n} durch {b} teilt?",
         "es": "¿Cuál es el resto de dividir {n} entre {b}?",
         "it": "Qual è il resto della divisione di {n} per {b}?"},
      a={"en": "I look for the largest multiple of {b} that does not exceed {n}. Since {b} × {qq} = {bq} and {b} × {qq1} = {bq1} is already larger than {n}, the quotient is {qq}. The remainder is the difference: {n} - {bq} = {r}. It is smaller than {b}, as a remainder must be, so the answer is {r}.",
         "fr": "Je cherche le plus grand multiple de {b} qui ne dépasse pas {n}. Comme {b} × {qq} = {bq} et que {b} × {qq1} = {bq1} est déjà supérieur à {n}, le quotient vaut {qq}. Le reste correspond à la différence : {n} - {bq} = {r}. Il est bien inférieur à {b}, comme doit l'être un reste, donc la réponse est {r}.",
         "de": "Ich suche das größte Vielfache von {b}, das {n} nicht übersteigt. Da {b} × {qq} = {bq} ist und {b} × {qq1} = {bq1} schon größer als {n} wäre, ist der Quotient {qq}. Der Rest ist die Differenz: {n} - {bq} = {r}. Er ist kleiner als {b}, wie es bei einem Rest sein muss, also lautet die Antwort {r}.",
         "es": "Busco el mayor múltiplo de {b} que no supere {n}. Como {b} × {qq} = {bq} y {b} × {qq1} = {bq1} ya es mayor que {n}, el cociente es {qq}. El resto es la diferencia: {n} - {bq} = {r}. Es menor que {b}, como debe ser un resto, así que la respuesta es {r}.",
         "it": "Cerco il più grande multiplo di {b} che non superi {n}. Poiché {b} × {qq} = {bq} e {b} × {qq1} = {bq1} è già maggiore di {n}, il quoziente è {qq}. Il resto è la differenza: {n} - {bq} = {r}. È minore di {b}, come deve essere un resto, quindi la risposta è {r}."},
      f={"en": "The remainder is {r}.", "fr": "Le reste est {r}.", "de": "Der Rest ist {r}.",
         "es": "El resto es {r}.", "it": "Il resto è {r}."})


def g_frac(r):
    num_, den = r.choice([(2, 3), (3, 4), (2, 5), (3, 5), (4, 5), (5, 6), (3, 8), (5, 8), (7, 8)])
    k = r.randint(3, 12)
    return dict(num=num_, den=den, k=k, N=den * k, ans=num_ * k)


ptype("fraction_of_number", "arithmetic", "train", g_frac,
      q={"en": ["What is {num}/{den} of {N}?", "Find {num}/{den} of {N}."],
         "fr": "Combien font les {num}/{den} de {N} ?",
         "de": "Wie viel sind {num}/{den} von {N}?",
         "es": "¿Cuánto es {num}/{den} de {N}?",
         "it": "Quanto fa {num}/{den} di {N}?"},
      a={"en": "To find {num}/{den} of {N}, I first split {N} into {den} equal parts: {N} ÷ {den} = {k}. Then I take {num} of those parts: {num} × {k} = {ans}. Checking: {ans} is less than {N}, which makes sense because the fraction is smaller than one. The result is {ans}.",
         "fr": "Pour calculer les {num}/{den} de {N}, je partage d'abord {N} en {den} parts égales : {N} ÷ {den} = {k}. Ensuite, je prends {num} de ces parts : {num} × {k} = {ans}. Vérification : {ans} est inférieur à {N}, ce qui est logique puisque la fraction est plus petite que 1. Le résultat est {ans}.",
         "de": "Um {num}/{den} von {N} zu berechnen, teile ich {N} zuerst in {den} gleiche Teile: {N} ÷ {den} = {k}. Dann nehme ich {num} dieser Teile: {num} × {k} = {ans}. Zur Kontrolle: {ans} ist kleiner als {N}, was stimmt, weil der Bruch kleiner als 1 ist. Das Ergebnis ist {ans}.",
         "es": "Para calcular {num}/{den} de {N}, primero divido {N} en {den} partes iguales: {N} ÷ {den} = {k}. Luego tomo {num} de esas partes: {num} × {k} = {ans}. Comprobación: {ans} es menor que {N}, lo cual tiene sentido porque la fracción es menor que 1. El resultado es {ans}.",
         "it": "Per calcolare {num}/{den} di {N}, divido prima {N} in {den} parti uguali: {N} ÷ {den} = {k}. Poi prendo {num} di queste parti: {num} × {k} = {ans}. Verifica: {ans} è minore di {N}, il che ha senso perché la frazione è minore di 1. Il risultato è {ans}."},
      f={"en": "{num}/{den} of {N} is {ans}.", "fr": "Les {num}/{den} de {N} font {ans}.", "de": "{num}/{den} von {N} sind {ans}.",
         "es": "{num}/{den} de {N} es {ans}.", "it": "{num}/{den} di {N} fa {ans}."})


def g_linear(r):
    a, x, b = r.randint(2, 9), r.randint(2, 12), r.randint(1, 20)
    return dict(a=a, x=x, b=b, c=a * x + b, ax=a * x, ans=x)


ptype("linear_equation", "algebra", "train", g_linear,
      q={"en": ["Solve for x: {a}x + {b} = {c}.", "Find x if {a}x + {b} = {c}."],
         "fr": "Résous l'équation {a}x + {b} = {c}.",
         "de": "Löse die Gleichung {a}x + {b} = {c}.",
         "es": "Resuelve la ecuación {a}x + {b} = {c}.",
         "it": "Risolvi l'equazione {a}x + {b} = {c}."},
      a={"en": "I want to isolate x. Subtracting {b} from both sides gives {a}x = {c} - {b} = {ax}. Dividing both sides by {a} gives x = {ax} ÷ {a} = {x}. Check: {a} × {x} + {b} = {ax} + {b} = {c}, which matches the right-hand side, so x = {x}.",
         "fr": "Je veux isoler x. En soustrayant {b} des deux côtés, j'obtiens {a}x = {c} - {b} = {ax}. En divisant les deux membres par {a}, on trouve x = {ax} ÷ {a} = {x}. Vérification : {a} × {x} + {b} = {ax} + {b} = {c}, ce qui correspond bien au membre de droite, donc x = {x}.",
         "de": "Ich möchte x isolieren. Wenn ich auf beiden Seiten {b} abziehe, erhalte ich {a}x = {c} - {b} = {ax}. Teile ich beide Seiten durch {a}, ergibt sich x = {ax} ÷ {a} = {x}. Probe: {a} × {x} + {b} = {ax} + {b} = {c}, das stimmt mit der rechten Seite überein, also ist x = {x}.",
         "es": "Quiero despejar x. Restando {b} en ambos lados obtengo {a}x = {c} - {b} = {ax}. Dividiendo ambos lados entre {a} queda x = {ax} ÷ {a} = {x}. Comprobación: {a} × {x} + {b} = {ax} + {b} = {c}, que coincide con el lado derecho, así que x = {x}.",
         "it": "Voglio isolare x. Sottraendo {b} da entrambi i membri ottengo {a}x = {c} - {b} = {ax}. Dividendo entrambi i membri per {a} risulta x = {ax} ÷ {a} = {x}. Verifica: {a} × {x} + {b} = {ax} + {b} = {c}, che coincide con il membro destro, quindi x = {x}."},
      f={"en": "The solution is x = {x}.", "fr": "La solution est x = {x}.", "de": "Die Lösung ist x = {x}.",
         "es": "La solución es x = {x}.", "it": "La soluzione è x = {x}."})


def g_both(r):
    while True:
        a = r.randint(4, 9)
        c = r.randint(1, a - 2)
        x, b = r.randint(2, 10), r.randint(1, 12)
        d = (a - c) * x - b
        if d >= 1:
            break
    k = a - c
    return dict(a=a, b=b, c=c, d=d, x=x, k=k, kx=k * x, L=a * x - b,
                cx="x" if c == 1 else f"{c}x", ans=x)


ptype("linear_both_sides", "algebra", "train", g_both,
      q={"en": ["Solve {a}x - {b} = {cx} + {d}.", "For which x is {a}x - {b} equal to {cx} + {d}?"],
         "fr": ["Résous {a}x - {b} = {cx} + {d}.", "Pour quelle valeur de x a-t-on {a}x - {b} = {cx} + {d} ?"],
         "de": ["Löse {a}x - {b} = {cx} + {d}.", "Für welches x gilt {a}x - {b} = {cx} + {d}?"],
         "es": "Resuelve {a}x - {b} = {cx} + {d}.",
         "it": ["Risolvi {a}x - {b} = {cx} + {d}.", "Per quale valore di x vale {a}x - {b} = {cx} + {d}?"]},
      a={"en": "The unknown appears on both sides, so I collect the x terms on the left and the numbers on the right. Subtracting {cx} from both sides gives {k}x - {b} = {d}. Adding {b} to both sides gives {k}x = {d} + {b} = {kx}. Dividing by {k}: x = {x}. Check: the left side is {a} × {x} - {b} = {L} and the right side is {c} × {x} + {d} = {L}, so it works.",
         "fr": "L'inconnue apparaît des deux côtés, donc je regroupe les termes en x à gauche et les nombres à droite. En retirant {cx} des deux côtés, j'obtiens {k}x - {b} = {d}. En ajoutant {b} des deux côtés : {k}x = {d} + {b} = {kx}. En divisant par {k} : x = {x}. Vérification : à gauche, {a} × {x} - {b} = {L}, et à droite, {c} × {x} + {d} = {L}, donc c'est correct.",
         "de": "Die Unbekannte steht auf beiden Seiten, also bringe ich die x-Terme nach links und die Zahlen nach rechts. Ziehe ich auf beiden Seiten {cx} ab, erhalte ich {k}x - {b} = {d}. Addiere ich {b}, folgt {k}x = {d} + {b} = {kx}. Division durch {k} ergibt x = {x}. Probe: links {a} × {x} - {b} = {L}, rechts {c} × {x} + {d} = {L}, es passt also.",
         "es": "La incógnita aparece en ambos lados, así que agrupo los términos con x a la izquierda y los números a la derecha. Restando {cx} en ambos lados obtengo {k}x - {b} = {d}. Sumando {b} en ambos lados: {k}x = {d} + {b} = {kx}. Dividiendo entre {k}: x = {x}. Comprobación: a la izquierda, {a} × {x} - {b} = {L}, y a la derecha, {c} × {x} + {d} = {L}, así que es correcto.",
         "it": "L'incognita compare in entrambi i membri, quindi porto i termini con x a sinistra e i numeri a destra. Sottraendo {cx} da entrambi i membri ottengo {k}x - {b} = {d}. Aggiungendo {b}: {k}x = {d} + {b} = {kx}. Dividendo per {k}: x = {x}. Verifica: a sinistra {a} × {x} - {b} = {L}, a destra {c} × {x} + {d} = {L}, quindi torna."},
      f={"en": "The equation holds for x = {x}.", "fr": "L'équation est vérifiée pour x = {x}.", "de": "Die Gleichung gilt für x = {x}.",
         "es": "La ecuación se cumple para x = {x}.", "it": "L'equazione è soddisfatta per x = {x}."})


def g_quad(r):
    pool = [v for v in range(-7, 8) if v]
    while True:
        r1, r2 = sorted(r.sample(pool, 2))
        if r1 + r2 != 0 and abs(r1 * r2) <= 36:
            break
    S, C = r1 + r2, r1 * r2
    B = -S
    lin = "+ x" if B == 1 else "- x" if B == -1 else (f"+ {B}x" if B > 0 else f"- {-B}x")
    const = f"+ {C}" if C > 0 else f"- {-C}"

    def fac(v):
        return f"(x - {v})" if v > 0 else f"(x + {-v})"

    def par(v):
        return f"({v})" if v < 0 else str(v)

    return dict(eq=f"x² {lin} {const} = 0", r1=r1, r2=r2, S=S, C=C, f1=fac(r1), f2=fac(r2),
                r1p=par(r1), r2p=par(r2), ans=f"{r1}, {r2}")


ptype("quadratic_factoring", "algebra", "train", g_quad,
      q={"en": ["Solve the equation {eq}.", "Find all solutions of {eq}."],
         "fr": ["Résous l'équation {eq}.", "Trouve toutes les solutions de {eq}."],
         "de": "Löse die quadratische Gleichung {eq}.",
         "es": ["Resuelve la ecuación {eq}.", "Encuentra todas las soluciones de {eq}."],
         "it": "Risolvi l'equazione {eq}."},
      a={"en": "I try to factor the quadratic. I need two numbers that multiply to {C} and add up to {S} (the opposite of the coefficient of x). The pair {r1} and {r2} works: {r1p} × {r2p} = {C} and {r1p} + {r2p} = {S}. So the equation becomes {f1}{f2} = 0. A product is zero only if one of its factors is zero, so x = {r1} or x = {r2}.",
         "fr": "J'essaie de factoriser ce trinôme. Il me faut deux nombres dont le produit vaut {C} et la somme {S} (l'opposé du coefficient de x). Le couple {r1} et {r2} convient : {r1p} × {r2p} = {C} et {r1p} + {r2p} = {S}. L'équation s'écrit donc {f1}{f2} = 0. Un produit est nul seulement si l'un des facteurs est nul, donc x = {r1} ou x = {r2}.",
         "de": "Ich versuche, die quadratische Gleichung zu faktorisieren. Ich brauche zwei Zahlen, deren Produkt {C} und deren Summe {S} ist (das Negative des Koeffizienten von x). Das Paar {r1} und {r2} passt: {r1p} × {r2p} = {C} und {r1p} + {r2p} = {S}. Die Gleichung lautet also {f1}{f2} = 0. Ein Produkt ist nur dann null, wenn ein Faktor null ist, also x = {r1} oder x = {r2}.",
         "es": "Intento factorizar la ecuación cuadrática. Necesito dos números cuyo producto sea {C} y cuya suma sea {S} (el opuesto del coeficiente de x). El par {r1} y {r2} funciona: {r1p} × {r2p} = {C} y {r1p} + {r2p} = {S}. Así, la ecuación queda {f1}{f2} = 0. Un producto es cero solo si uno de sus factores es cero, por lo que x = {r1} o x = {r2}.",
         "it": "Provo a scomporre l'equazione di secondo grado. Mi servono due numeri il cui prodotto sia {C} e la cui somma sia {S} (l'opposto del coefficiente di x). La coppia {r1} e {r2} funziona: {r1p} × {r2p} = {C} e {r1p} + {r2p} = {S}. L'equazione diventa quindi {f1}{f2} = 0. Un prodotto è nullo solo se uno dei fattori è nullo, quindi x = {r1} oppure x = {r2}."},
      f={"en": "The solutions are x = {r1} and x = {r2}.", "fr": "Les solutions sont x = {r1} et x = {r2}.",
         "de": "Die Lösungen sind x = {r1} und x = {r2}.", "es": "Las soluciones son x = {r1} y x = {r2}.",
         "it": "Le soluzioni sono x = {r1} e x = {r2}."})


def g_sumdiff(r):
    x = r.randint(6, 20)
    y = r.randint(2, x - 2)
    return dict(x=x, y=y, s=x + y, d=x - y, x2=2 * x, ans=x)


ptype("sum_and_difference", "algebra", "train", g_sumdiff,
      q={"en": ["Two numbers add up to {s} and their difference is {d}. What is the larger number?",
                "The sum of two numbers is {s} and one is {d} more than the other. Find the larger one."],
         "fr": "La somme de deux nombres est {s} et leur différence est {d}. Quel est le plus grand ?",
         "de": "Zwei Zahlen ergeben zusammen {s}, ihre Differenz ist {d}. Wie heißt die größere Zahl?",
         "es": "Dos números suman {s} y su diferencia es {d}. ¿Cuál es el mayor?",
         "it": "Due numeri hanno somma {s} e differenza {d}. Qual è il maggiore?"},
      a={"en": "Let the larger number be x and the smaller y, so x + y = {s} and x - y = {d}. Adding the two equations eliminates y: 2x = {s} + {d} = {x2}, so x = {x}. Then y = {s} - {x} = {y}. Check: {x} - {y} = {d}, as required. The larger number is {x}.",
         "fr": "Soit x le plus grand nombre et y le plus petit : x + y = {s} et x - y = {d}. En additionnant les deux équations, y disparaît : 2x = {s} + {d} = {x2}, donc x = {x}. Alors y = {s} - {x} = {y}. Vérification : {x} - {y} = {d}, comme demandé. Le plus grand nombre est {x}.",
         "de": "Sei x die größere und y die kleinere Zahl, also x + y = {s} und x - y = {d}. Addiert man beide Gleichungen, fällt y weg: 2x = {s} + {d} = {x2}, also x = {x}. Dann ist y = {s} - {x} = {y}. Probe: {x} - {y} = {d}, wie verlangt. Die größere Zahl ist {x}.",
         "es": "Sea x el número mayor e y el menor, de modo que x + y = {s} y x - y = {d}. Sumando las dos ecuaciones se elimina y: 2x = {s} + {d} = {x2}, así que x = {x}. Entonces y = {s} - {x} = {y}. Comprobación: {x} - {y} = {d}, como se pide. El número mayor es {x}.",
         "it": "Sia x il numero maggiore e y il minore, quindi x + y = {s} e x - y = {d}. Sommando le due equazioni si elimina y: 2x = {s} + {d} = {x2}, quindi x = {x}. Allora y = {s} - {x} = {y}. Verifica: {x} - {y} = {d}, come richiesto. Il numero maggiore è {x}."},
      f={"en": "The larger number is {x}.", "fr": "Le plus grand nombre est {x}.", "de": "Die größere Zahl ist {x}.",
         "es": "El número mayor es {x}.", "it": "Il numero maggiore è {x}."})


SHOP_ITEMS = [
    {"en": ("notebooks", "a pen"), "fr": ("cahiers", "un stylo"), "de": ("Hefte", "einen Kugelschreiber"),
     "es": ("cuadernos", "un bolígrafo"), "it": ("quaderni", "una penna")},
    {"en": ("croissants", "a coffee"), "fr": ("croissants", "un café"), "de": ("Croissants", "einen Kaffee"),
     "es": ("cruasanes", "un café"), "it": ("cornetti", "un caffè")},
    {"en": ("apples", "a melon"), "fr": ("pommes", "un melon"), "de": ("Äpfel", "eine Melone"),
     "es": ("manzanas", "un melón"), "it": ("mele", "un melone")},
]


def g_shop(r):
    it = r.choice(SHOP_ITEMS)
    n, p, e = r.randint(2, 6), r.randint(2, 5), r.randint(1, 4)
    tot = n * p + e
    B = 20 if tot <= 17 else 50
    return dict(name=r.choice(FEM), n=n, p=p, e=e, np=n * p, tot=tot, B=B, ans=B - tot,
                item1=PerLang({k: v[0] for k, v in it.items()}),
                item2=PerLang({k: v[1] for k, v in it.items()}))


ptype("shopping_change", "word_problem", "train", g_shop,
      q={"en": ["{name} buys {n} {item1} at €{p} each and {item2} for €{e}. She pays with a €{B} note. How much change does she get?",
                "At the shop, {name} picks up {n} {item1} costing €{p} apiece, plus {item2} for €{e}. If she hands over €{B}, how much change should she receive?"],
         "fr": "{name} achète {n} {item1} à {p} € pièce et {item2} à {e} €. Elle paie avec un billet de {B} €. Combien doit-on lui rendre ?",
         "de": "{name} kauft {n} {item1} zu je {p} € und {item2} für {e} €. Sie bezahlt mit einem {B}-Euro-Schein. Wie viel Wechselgeld bekommt sie?",
         "es": "{name} compra {n} {item1} a {p} € la unidad y {item2} por {e} €. Paga con un billete de {B} €. ¿Cuánto le devuelven?",
         "it": "{name} compra {n} {item1} a {p} € al pezzo e {item2} a {e} €. Paga con una banconota da {B} €. Quanto riceve di resto?"},
      a={"en": "First the cost of the {item1}: {n} × €{p} = €{np}. Adding €{e} for {item2} gives a total of €{np} + €{e} = €{tot}. She pays with €{B}, so the change is €{B} - €{tot} = €{ans}. The total is below the value of the note, so the answer makes sense.",
         "fr": "D'abord le prix des {item1} : {n} × {p} € = {np} €. En ajoutant {e} € pour {item2}, le total est de {np} € + {e} € = {tot} €. Elle paie avec {B} €, donc on lui rend {B} € - {tot} € = {ans} €. Le total est bien inférieur au billet, le résultat est donc cohérent.",
         "de": "Zuerst der Preis der {item1}: {n} × {p} € = {np} €. Dazu kommen {e} € für {item2}, insgesamt also {np} € + {e} € = {tot} €. Sie zahlt mit {B} €, also bekommt sie {B} € - {tot} € = {ans} € zurück. Der Gesamtbetrag liegt unter dem Wert des Scheins, das Ergebnis ist also plausibel.",
         "es": "Primero, {n} {item1} cuestan {n} × {p} € = {np} €. Sumando {e} € por {item2}, el total es {np} € + {e} € = {tot} €. Paga con {B} €, así que le devuelven {B} € - {tot} € = {ans} €. El total es menor que el billete, de modo que el resultado tiene sentido.",
         "it": "Per prima cosa, {n} {item1} costano {n} × {p} € = {np} €. Aggiungendo {e} € per {item2}, il totale è {np} € + {e} € = {tot} €. Paga con {B} €, quindi il resto è {B} € - {tot} € = {ans} €. Il totale è inferiore alla banconota, quindi il risultato è sensato."},
      f={"en": "She gets €{ans} in change.", "fr": "On lui rend {ans} €.", "de": "Sie bekommt {ans} € Wechselgeld.",
         "es": "Le devuelven {ans} €.", "it": "Riceve {ans} € di resto."})


def g_travel(r):
    v = r.choice([40, 45, 50, 60, 70, 75, 80, 90])
    t1 = r.randint(2, 4)
    t2 = r.choice([t for t in range(2, 8) if t != t1])
    return dict(v=v, t1=t1, t2=t2, d1=v * t1, ans=v * t2)


ptype("travel_same_speed", "word_problem", "train", g_travel,
      q={"en": ["A car covers {d1} km in {t1} hours. At the same speed, how far will it travel in {t2} hours?",
                "A train travels {d1} km in {t1} hours at a constant speed. How many kilometres does it cover in {t2} hours?"],
         "fr": "Une voiture parcourt {d1} km en {t1} heures. À la même vitesse, quelle distance parcourt-elle en {t2} heures ?",
         "de": "Ein Auto fährt in {t1} Stunden {d1} km. Wie weit kommt es bei gleicher Geschwindigkeit in {t2} Stunden?",
         "es": "Un coche recorre {d1} km en {t1} horas. A la misma velocidad, ¿qué distancia recorre en {t2} horas?",
         "it": "Un'auto percorre {d1} km in {t1} ore. Alla stessa velocità, quanti km percorre in {t2} ore?"},
      a={"en": "First I find the speed: {d1} km in {t1} hours means {d1} ÷ {t1} = {v} km per hour. The speed stays the same, so in {t2} hours the distance is {v} × {t2} = {ans} km. Because the speed is constant, multiplying speed by time is valid. The distance is {ans} km.",
         "fr": "Je calcule d'abord la vitesse : {d1} km en {t1} heures, cela fait {d1} ÷ {t1} = {v} km par heure. La vitesse reste la même, donc en {t2} heures la distance est {v} × {t2} = {ans} km. Comme la vitesse est constante, on peut simplement multiplier la vitesse par le temps. La distance est de {ans} km.",
         "de": "Zuerst bestimme ich die Geschwindigkeit: {d1} km in {t1} Stunden sind {d1} ÷ {t1} = {v} km pro Stunde. Die Geschwindigkeit bleibt gleich, also beträgt die Strecke in {t2} Stunden {v} × {t2} = {ans} km. Da die Geschwindigkeit konstant ist, darf ich einfach Geschwindigkeit mal Zeit rechnen. Die Strecke beträgt {ans} km.",
         "es": "Primero calculo la velocidad: {d1} km en {t1} horas son {d1} ÷ {t1} = {v} km por hora. La velocidad no cambia, así que en {t2} horas la distancia es {v} × {t2} = {ans} km. Como la velocidad es constante, basta con multiplicar velocidad por tiempo. La distancia es de {ans} km.",
         "it": "Prima trovo la velocità: {d1} km in {t1} ore sono {d1} ÷ {t1} = {v} km all'ora. La velocità resta la stessa, quindi in {t2} ore la distanza è {v} × {t2} = {ans} km. Poiché la velocità è costante, basta moltiplicare la velocità per il tempo. La distanza è di {ans} km."},
      f={"en": "It travels {ans} km.", "fr": "Elle parcourt {ans} km.", "de": "Es legt {ans} km zurück.",
         "es": "Recorre {ans} km.", "it": "Percorre {ans} km."})


def g_ages(r):
    while True:
        son, k = r.randint(5, 14), r.randint(3, 5)
        if 24 <= k * son <= 60:
            break
    return dict(name=r.choice(FEM), son=son, k=k, k1=k + 1, mom=k * son, S=(k + 1) * son, ans=son)


ptype("ages_mother_son", "word_problem", "train", g_ages,
      q={"en": ["{name} is {k} times as old as her son. Together they are {S} years old. How old is the son?",
                "{name}'s age is {k} times her son's age, and their ages add up to {S}. What is the son's age?"],
         "fr": "{name} a {k} fois l'âge de son fils. À eux deux, ils ont {S} ans. Quel âge a le fils ?",
         "de": "{name} ist {k}-mal so alt wie ihr Sohn. Zusammen sind sie {S} Jahre alt. Wie alt ist der Sohn?",
         "es": "{name} tiene {k} veces la edad de su hijo. Entre los dos suman {S} años. ¿Cuántos años tiene el hijo?",
         "it": "{name} ha {k} volte l'età di suo figlio. Insieme hanno {S} anni. Quanti anni ha il figlio?"},
      a={"en": "Let the son's age be s. Then {name} is {k}s years old, and together they are s + {k}s = {k1}s. This must equal {S}, so s = {S} ÷ {k1} = {son}. {name} is then {k} × {son} = {mom}, and {son} + {mom} = {S} checks out. The son is {son} years old.",
         "fr": "Notons s l'âge du fils. {name} a alors {k}s ans, et à eux deux ils ont s + {k}s = {k1}s. Cela doit valoir {S}, donc s = {S} ÷ {k1} = {son}. {name} a alors {k} × {son} = {mom} ans, et {son} + {mom} = {S}, c'est cohérent. Le fils a {son} ans.",
         "de": "Sei s das Alter des Sohnes. Dann ist {name} {k}s Jahre alt, und zusammen sind sie s + {k}s = {k1}s. Das muss {S} ergeben, also s = {S} ÷ {k1} = {son}. {name} ist dann {k} × {son} = {mom} Jahre alt, und {son} + {mom} = {S} stimmt. Der Sohn ist {son} Jahre alt.",
         "es": "Sea s la edad del hijo. Entonces {name} tiene {k}s años, y entre los dos suman s + {k}s = {k1}s. Eso debe ser {S}, así que s = {S} ÷ {k1} = {son}. {name} tiene entonces {k} × {son} = {mom} años, y {son} + {mom} = {S}, cuadra. El hijo tiene {son} años.",
         "it": "Sia s l'età del figlio. Allora {name} ha {k}s anni, e insieme hanno s + {k}s = {k1}s. Questo deve valere {S}, quindi s = {S} ÷ {k1} = {son}. {name} ha quindi {k} × {son} = {mom} anni, e {son} + {mom} = {S}, torna. Il figlio ha {son} anni."},
      f={"en": "The son is {son} years old.", "fr": "Le fils a {son} ans.", "de": "Der Sohn ist {son} Jahre alt.",
         "es": "El hijo tiene {son} años.", "it": "Il figlio ha {son} anni."})


def g_save(r):
    w = r.choice([5, 6, 8, 10, 12, 15, 20])
    n = r.randint(3, 12)
    a = r.choice(range(10, 65, 5))
    return dict(name=r.choice(MASC), w=w, n=n, a=a, G=a + w * n, need=w * n, nw=n * w, ans=n)


ptype("savings_weeks", "word_problem", "train", g_save,
      q={"en": ["{name} has €{a} and saves €{w} every week. After how many weeks will he have €{G}?",
                "{name} wants to buy a bike that costs €{G}. He already has €{a} and puts aside €{w} a week. How many weeks does he need to wait?"],
         "fr": ["{name} a {a} € et économise {w} € par semaine. Au bout de combien de semaines aura-t-il {G} € ?",
                "{name} veut s'acheter un vélo à {G} €. Il a déjà {a} € et met de côté {w} € par semaine. Combien de semaines doit-il attendre ?"],
         "de": "{name} hat {a} € und spart jede Woche {w} €. Nach wie vielen Wochen hat er {G} €?",
         "es": "{name} tiene {a} € y ahorra {w} € cada semana. ¿Cuántas semanas tardará en tener {G} €?",
         "it": ["{name} ha {a} € e risparmia {w} € ogni settimana. Dopo quante settimane avrà {G} €?",
                "{name} vuole comprare una bici da {G} €. Ha già {a} € e mette da parte {w} € a settimana. Quante settimane deve aspettare?"]},
      a={"en": "He starts with €{a}, so he still needs €{G} - €{a} = €{need}. Each week adds €{w}, so the number of weeks is {need} ÷ {w} = {n}. Check: after {n} weeks he has €{a} + {n} × €{w} = €{a} + €{nw} = €{G}. So it takes {n} weeks.",
         "fr": "Il part de {a} €, il lui manque donc {G} € - {a} € = {need} €. Chaque semaine ajoute {w} €, donc le nombre de semaines est {need} ÷ {w} = {n}. Vérification : après {n} semaines, il a {a} € + {n} × {w} € = {a} € + {nw} € = {G} €. Il faut donc {n} semaines.",
         "de": "Er beginnt mit {a} €, es fehlen ihm also noch {G} € - {a} € = {need} €. Jede Woche kommen {w} € dazu, also braucht er {need} ÷ {w} = {n} Wochen. Probe: Nach {n} Wochen hat er {a} € + {n} × {w} € = {a} € + {nw} € = {G} €. Es dauert also {n} Wochen.",
         "es": "Parte de {a} €, así que le faltan {G} € - {a} € = {need} €. Cada semana suma {w} €, por lo que el número de semanas es {need} ÷ {w} = {n}. Comprobación: tras {n} semanas tiene {a} € + {n} × {w} € = {a} € + {nw} € = {G} €. Necesita {n} semanas.",
         "it": "Parte da {a} €, quindi gli mancano {G} € - {a} € = {need} €. Ogni settimana aggiunge {w} €, quindi il numero di settimane è {need} ÷ {w} = {n}. Verifica: dopo {n} settimane ha {a} € + {n} × {w} € = {a} € + {nw} € = {G} €. Servono quindi {n} settimane."},
      f={"en": "He needs {n} weeks.", "fr": "Il lui faut {n} semaines.", "de": "Er braucht {n} Wochen.",
         "es": "Necesita {n} semanas.", "it": "Gli servono {n} settimane."})

INGREDIENTS = [
    {"en": "flour", "fr": "farine", "de": "Mehl", "es": "harina", "it": "farina"},
    {"en": "rice", "fr": "riz", "de": "Reis", "es": "arroz", "it": "riso"},
    {"en": "sugar", "fr": "sucre", "de": "Zucker", "es": "azúcar", "it": "zucchero"},
]


def g_recipe(r):
    u = r.choice([20, 25, 30, 40, 50, 60, 75])
    p1 = r.choice([2, 4, 5, 6])
    p2 = r.choice([v for v in range(3, 11) if v != p1])
    return dict(u=u, p1=p1, p2=p2, g=u * p1, ans=u * p2, ing=PerLang(r.choice(INGREDIENTS)))


ptype("recipe_scaling", "word_problem", "train", g_recipe,
      q={"en": ["A recipe for {p1} people uses {g} g of {ing}. How many grams of {ing} are needed for {p2} people?",
                "My recipe serves {p1} and calls for {g} g of {ing}. How much {ing} do I need to serve {p2} people?"],
         "fr": "Une recette pour {p1} personnes demande {g} g de {ing}. Combien de grammes faut-il pour {p2} personnes ?",
         "de": "Ein Rezept für {p1} Personen braucht {g} g {ing}. Wie viel Gramm braucht man für {p2} Personen?",
         "es": "Una receta para {p1} personas lleva {g} g de {ing}. ¿Cuántos gramos hacen falta para {p2} personas?",
         "it": "Una ricetta per {p1} persone richiede {g} g di {ing}. Quanti grammi servono per {p2} persone?"},
      a={"en": "The amount is proportional to the number of people. For one person the recipe uses {g} ÷ {p1} = {u} g of {ing}. For {p2} people I multiply: {u} × {p2} = {ans} g. Scaling this way keeps the proportions of the recipe unchanged, so {ans} g of {ing} are needed.",
         "fr": "La quantité est proportionnelle au nombre de personnes. Pour une personne, la recette utilise {g} ÷ {p1} = {u} g de {ing}. Pour {p2} personnes, je multiplie : {u} × {p2} = {ans} g. Cette méthode conserve les proportions de la recette, il faut donc {ans} g de {ing}.",
         "de": "Die Menge ist proportional zur Personenzahl. Für eine Person braucht das Rezept {g} ÷ {p1} = {u} g {ing}. Für {p2} Personen multipliziere ich: {u} × {p2} = {ans} g. So bleiben die Verhältnisse im Rezept erhalten, man braucht also {ans} g {ing}.",
         "es": "La cantidad es proporcional al número de personas. Para una persona, la receta usa {g} ÷ {p1} = {u} g de {ing}. Para {p2} personas multiplico: {u} × {p2} = {ans} g. Así se mantienen las proporciones de la receta, de modo que hacen falta {ans} g de {ing}.",
         "it": "La quantità è proporzionale al numero di persone. Per una persona la ricetta usa {g} ÷ {p1} = {u} g di {ing}. Per {p2} persone moltiplico: {u} × {p2} = {ans} g. In questo modo le proporzioni della ricetta restano invariate, quindi servono {ans} g di {ing}."},
      f={"en": "You need {ans} g of {ing}.", "fr": "Il faut {ans} g de {ing}.", "de": "Man braucht {ans} g {ing}.",
         "es": "Hacen falta {ans} g de {ing}.", "it": "Servono {ans} g di {ing}."})


def g_bus(r):
    c = r.choice([8, 9, 12, 15])
    while True:
        n = r.randint(2 * c + 2, 5 * c - 2)
        if n % c >= 2:
            break
    q_ = n // c
    return dict(n=n, c=c, q=q_, cq=c * q_, r=n % c, ans=q_ + 1)


ptype("minibuses_needed", "word_problem", "train", g_bus,
      q={"en": ["{n} pupils are going on a trip. Each minibus holds {c} pupils. How many minibuses are needed?",
                "A school needs to transport {n} students in vans that carry {c} students each. What is the smallest number of vans required?"],
         "fr": "{n} élèves partent en sortie. Chaque minibus peut transporter {c} élèves. Combien de minibus faut-il ?",
         "de": "{n} Schüler machen einen Ausflug. In jeden Kleinbus passen {c} Schüler. Wie viele Kleinbusse werden benötigt?",
         "es": "{n} alumnos van de excursión. En cada microbús caben {c} alumnos. ¿Cuántos microbuses hacen falta?",
         "it": "{n} alunni vanno in gita. Ogni pulmino porta {c} alunni. Quanti pulmini servono?"},
      a={"en": "I divide {n} by {c}: {c} × {q} = {cq}, which leaves {r} pupils without a seat. Those {r} pupils still need a vehicle, so one more is required even though it will not be full. The answer is therefore {q} + 1 = {ans}, not {q}.",
         "fr": "Je divise {n} par {c} : {c} × {q} = {cq}, ce qui laisse {r} élèves sans place. Ces {r} élèves ont quand même besoin d'un véhicule, donc il en faut un de plus, même s'il ne sera pas plein. La réponse est donc {q} + 1 = {ans}, et non {q}.",
         "de": "Ich teile {n} durch {c}: {c} × {q} = {cq}, dann bleiben {r} Schüler ohne Platz. Diese {r} Schüler brauchen trotzdem ein Fahrzeug, also ist ein weiterer Bus nötig, auch wenn er nicht voll wird. Die Antwort ist daher {q} + 1 = {ans}, nicht {q}.",
         "es": "Divido {n} entre {c}: {c} × {q} = {cq}, con lo que quedan {r} alumnos sin plaza. Esos {r} alumnos también necesitan un vehículo, así que hace falta uno más aunque no vaya lleno. Por tanto, la respuesta es {q} + 1 = {ans}, no {q}.",
         "it": "Divido {n} per {c}: {c} × {q} = {cq}, e restano {r} alunni senza posto. Anche quei {r} alunni hanno bisogno di un mezzo, quindi ne serve uno in più, anche se non sarà pieno. La risposta è quindi {q} + 1 = {ans}, non {q}."},
      f={"en": "At least {ans} vehicles are needed.", "fr": "Il faut {ans} minibus.", "de": "Man braucht {ans} Kleinbusse.",
         "es": "Hacen falta {ans} microbuses.", "it": "Servono {ans} pulmini."})

FRACTION_WORDS = {
    3: {"en": "a third", "fr": "un tiers", "de": "ein Drittel", "es": "la tercera parte", "it": "un terzo"},
    4: {"en": "a quarter", "fr": "un quart", "de": "ein Viertel", "es": "la cuarta parte", "it": "un quarto"},
    5: {"en": "a fifth", "fr": "un cinquième", "de": "ein Fünftel", "es": "la quinta parte", "it": "un quinto"},
}


def g_pocket(r):
    k = r.choice([3, 4, 5])
    u = r.randint(3, 10)
    M = k * u
    r1 = M - u
    s = r.randint(2, r1 - 2)
    return dict(name=r.choice(MASC), k=k, u=u, M=M, r1=r1, s=s, ans=r1 - s, frac=PerLang(FRACTION_WORDS[k]))


ptype("money_left", "word_problem", "train", g_pocket,
      q={"en": ["{name} has €{M}. He spends {frac} of it on a book and then €{s} on lunch. How much money does he have left?"],
         "fr": "{name} a {M} €. Il en dépense {frac} pour un livre, puis {s} € pour déjeuner. Combien lui reste-t-il ?",
         "de": "{name} hat {M} €. Er gibt {frac} davon für ein Buch aus und danach {s} € fürs Mittagessen. Wie viel Geld bleibt ihm?",
         "es": "{name} tiene {M} €. Gasta {frac} del dinero en un libro y después {s} € en la comida. ¿Cuánto dinero le queda?",
         "it": "{name} ha {M} €. Spende {frac} della somma per un libro e poi {s} € per il pranzo. Quanti soldi gli restano?"},
      a={"en": "First the book: {frac} of €{M} is {M} ÷ {k} = €{u}. After buying it, {name} has €{M} - €{u} = €{r1}. Then lunch costs €{s}, so €{r1} - €{s} = €{ans} remain. The order matters here, because the fraction is taken of the original amount, not of what is left after lunch.",
         "fr": "D'abord le livre : {frac} de {M} €, c'est {M} ÷ {k} = {u} €. Après cet achat, {name} a {M} € - {u} € = {r1} €. Ensuite, le déjeuner coûte {s} €, il reste donc {r1} € - {s} € = {ans} €. L'ordre compte ici, car la fraction porte sur la somme de départ et non sur ce qui reste après le déjeuner.",
         "de": "Zuerst das Buch: {frac} von {M} € sind {M} ÷ {k} = {u} €. Danach hat {name} noch {M} € - {u} € = {r1} €. Das Mittagessen kostet {s} €, also bleiben {r1} € - {s} € = {ans} € übrig. Die Reihenfolge ist wichtig, denn der Bruchteil bezieht sich auf den Anfangsbetrag, nicht auf den Rest nach dem Essen.",
         "es": "Primero el libro: {frac} de {M} € es {M} ÷ {k} = {u} €. Después de comprarlo, {name} tiene {M} € - {u} € = {r1} €. Luego la comida cuesta {s} €, así que le quedan {r1} € - {s} € = {ans} €. El orden importa, porque la fracción se calcula sobre la cantidad inicial y no sobre lo que queda tras la comida.",
         "it": "Prima il libro: {frac} di {M} € è {M} ÷ {k} = {u} €. Dopo l'acquisto, {name} ha {M} € - {u} € = {r1} €. Poi il pranzo costa {s} €, quindi restano {r1} € - {s} € = {ans} €. L'ordine conta, perché la frazione si calcola sulla somma iniziale e non su ciò che resta dopo il pranzo."},
      f={"en": "He has €{ans} left.", "fr": "Il lui reste {ans} €.", "de": "Ihm bleiben {ans} €.",
         "es": "Le quedan {ans} €.", "it": "Gli restano {ans} €."})


def g_discount(r):
    d = r.choice([10, 20, 25, 30, 40, 50])
    P = r.choice([p for p in range(20, 201, 10) if p * d % 100 == 0])
    disc = P * d // 100
    return dict(P=P, d=d, disc=disc, rem=100 - d, ans=P - disc)


ptype("discount_price", "percent", "train", g_discount,
      q={"en": ["A jacket costs €{P}. It is reduced by {d}%. What is the new price?",
                "In the sales, shoes priced at €{P} are {d}% off. How much do they cost now?"],
         "fr": "Une veste coûte {P} €. Elle bénéficie d'une remise de {d} %. Quel est son nouveau prix ?",
         "de": "Eine Jacke kostet {P} €. Sie wird um {d} % reduziert. Wie viel kostet sie jetzt?",
         "es": "Una chaqueta cuesta {P} €. Tiene un descuento del {d} %. ¿Cuál es el nuevo precio?",
         "it": "Una giacca costa {P} €. È scontata del {d}%. Qual è il nuovo prezzo?"},
      a={"en": "The discount is {d}% of €{P}, which is {P} × {d} ÷ 100 = €{disc}. Subtracting it from the original price gives €{P} - €{disc} = €{ans}. Another way to check: paying {rem}% of the price means {P} × {rem} ÷ 100 = {ans}, the same result. The new price is €{ans}.",
         "fr": "La remise vaut {d} % de {P} €, soit {P} × {d} ÷ 100 = {disc} €. En la retirant du prix initial, on obtient {P} € - {disc} € = {ans} €. Autre vérification : payer {rem} % du prix donne {P} × {rem} ÷ 100 = {ans}, le même résultat. Le nouveau prix est de {ans} €.",
         "de": "Der Rabatt beträgt {d} % von {P} €, also {P} × {d} ÷ 100 = {disc} €. Zieht man ihn vom ursprünglichen Preis ab, erhält man {P} € - {disc} € = {ans} €. Zur Kontrolle: {rem} % des Preises zu zahlen ergibt {P} × {rem} ÷ 100 = {ans}, dasselbe Ergebnis. Der neue Preis ist {ans} €.",
         "es": "El descuento es el {d} % de {P} €, es decir, {P} × {d} ÷ 100 = {disc} €. Restándolo del precio original queda {P} € - {disc} € = {ans} €. Otra comprobación: pagar el {rem} % del precio da {P} × {rem} ÷ 100 = {ans}, el mismo resultado. El nuevo precio es {ans} €.",
         "it": "Lo sconto è il {d}% di {P} €, cioè {P} × {d} ÷ 100 = {disc} €. Togliendolo dal prezzo iniziale si ottiene {P} € - {disc} € = {ans} €. Un'altra verifica: pagare il {rem}% del prezzo dà {P} × {rem} ÷ 100 = {ans}, lo stesso risultato. Il nuovo prezzo è {ans} €."},
      f={"en": "The new price is €{ans}.", "fr": "Le nouveau prix est de {ans} €.", "de": "Der neue Preis beträgt {ans} €.",
         "es": "El nuevo precio es {ans} €.", "it": "Il nuovo prezzo è {ans} €."})


def g_class(r):
    N = r.choice([20, 25, 30, 40, 50])
    p = r.choice([v for v in range(10, 91) if N * v % 100 == 0 and v != 50])
    g = N * p // 100
    return dict(N=N, p=p, q=100 - p, g=g, b=N - g, ans=N - g)


ptype("percent_of_class", "percent", "train", g_class,
      q={"en": ["In a class of {N} pupils, {p}% are girls. How many boys are there?",
                "{p}% of the {N} children in a class are girls. How many of the children are boys?"],
         "fr": "Dans une classe de {N} élèves, {p} % sont des filles. Combien y a-t-il de garçons ?",
         "de": "In einer Klasse mit {N} Kindern sind {p} % Mädchen. Wie viele Jungen sind in der Klasse?",
         "es": "En una clase de {N} alumnos, el {p} % son chicas. ¿Cuántos chicos hay?",
         "it": "In una classe di {N} alunni, il {p}% sono ragazze. Quanti sono i ragazzi?"},
      a={"en": "Girls make up {p}% of {N}, that is {N} × {p} ÷ 100 = {g}. Everyone else is a boy, so the number of boys is {N} - {g} = {b}. Alternatively, boys are {q}% of the class, and {q}% of {N} is also {b}, which confirms the result.",
         "fr": "Les filles représentent {p} % de {N}, soit {N} × {p} ÷ 100 = {g}. Tous les autres élèves sont des garçons, donc il y a {N} - {g} = {b} garçons. Autre façon de voir : les garçons forment {q} % de la classe, et {q} % de {N} donne aussi {b}, ce qui confirme le résultat.",
         "de": "Die Mädchen machen {p} % von {N} aus, also {N} × {p} ÷ 100 = {g}. Alle anderen sind Jungen, also gibt es {N} - {g} = {b} Jungen. Anders betrachtet sind die Jungen {q} % der Klasse, und {q} % von {N} ergibt ebenfalls {b}, was das Ergebnis bestätigt.",
         "es": "Las chicas son el {p} % de {N}, es decir, {N} × {p} ÷ 100 = {g}. Todos los demás son chicos, así que hay {N} - {g} = {b} chicos. Otra forma de verlo: los chicos son el {q} % de la clase, y el {q} % de {N} también es {b}, lo que confirma el resultado.",
         "it": "Le ragazze sono il {p}% di {N}, cioè {N} × {p} ÷ 100 = {g}. Tutti gli altri sono ragazzi, quindi i ragazzi sono {N} - {g} = {b}. In alternativa, i ragazzi sono il {q}% della classe, e il {q}% di {N} fa ancora {b}, il che conferma il risultato."},
      f={"en": "There are {b} boys.", "fr": "Il y a {b} garçons.", "de": "Es sind {b} Jungen.",
         "es": "Hay {b} chicos.", "it": "I ragazzi sono {b}."})


def g_increase(r):
    while True:
        a = r.choice([20, 25, 40, 50, 60, 80, 100, 120, 200])
        pct = r.choice([5, 10, 15, 20, 25, 30, 40, 50])
        if a * pct % 100 == 0:
            break
    inc = a * pct // 100
    return dict(a=a, pct=pct, inc=inc, b=a + inc, dec=num(pct / 100), ans=pct)


ptype("percent_increase", "percent", "train", g_increase,
      q={"en": ["A monthly bus pass went up from €{a} to €{b}. What is the percentage increase?",
                "The price of a gym membership rose from €{a} to €{b} per month. By what percentage did it increase?"],
         "fr": "Un abonnement de bus mensuel passe de {a} € à {b} €. De quel pourcentage a-t-il augmenté ?",
         "de": "Eine Monatskarte für den Bus wird von {a} € auf {b} € teurer. Um wie viel Prozent ist der Preis gestiegen?",
         "es": "El abono mensual de autobús pasa de {a} € a {b} €. ¿En qué porcentaje ha subido?",
         "it": "L'abbonamento mensile dell'autobus passa da {a} € a {b} €. Di che percentuale è aumentato?"},
      a={"en": "The increase is €{b} - €{a} = €{inc}. A percentage increase is always measured against the original price, so I divide by {a}: {inc} ÷ {a} = {dec}. Multiplying by 100 gives {pct}%. Check: {pct}% of €{a} is €{inc}, and €{a} + €{inc} = €{b}.",
         "fr": "L'augmentation est de {b} € - {a} € = {inc} €. Un pourcentage d'augmentation se calcule toujours par rapport au prix initial, donc je divise par {a} : {inc} ÷ {a} = {dec}. En multipliant par 100, j'obtiens {pct} %. Vérification : {pct} % de {a} € font {inc} €, et {a} € + {inc} € = {b} €.",
         "de": "Die Erhöhung beträgt {b} € - {a} € = {inc} €. Eine prozentuale Steigerung bezieht sich immer auf den alten Preis, also teile ich durch {a}: {inc} ÷ {a} = {dec}. Mal 100 ergibt das {pct} %. Probe: {pct} % von {a} € sind {inc} €, und {a} € + {inc} € = {b} €.",
         "es": "El aumento es de {b} € - {a} € = {inc} €. Un porcentaje de aumento se calcula siempre respecto al precio original, así que divido entre {a}: {inc} ÷ {a} = {dec}. Multiplicando por 100 obtengo un {pct} %. Comprobación: el {pct} % de {a} € es {inc} €, y {a} € + {inc} € = {b} €.",
         "it": "L'aumento è di {b} € - {a} € = {inc} €. Un aumento percentuale si calcola sempre rispetto al prezzo iniziale, quindi divido per {a}: {inc} ÷ {a} = {dec}. Moltiplicando per 100 ottengo il {pct}%. Verifica: il {pct}% di {a} € è {inc} €, e {a} € + {inc} € = {b} €."},
      f={"en": "The price increased by {pct}%.", "fr": "Le prix a augmenté de {pct} %.", "de": "Der Preis ist um {pct} % gestiegen.",
         "es": "El precio ha subido un {pct} %.", "it": "Il prezzo è aumentato del {pct}%."})


def g_tip(r):
    B = r.choice([20, 40, 60, 80, 100, 120])
    t = r.choice([10, 15, 20])
    tip = B * t // 100
    return dict(B=B, t=t, tip=tip, ans=B + tip, fac=num((100 + t) / 100))


ptype("restaurant_tip", "percent", "train", g_tip,
      q={"en": ["A restaurant bill comes to €{B}. We want to leave a {t}% tip. How much do we pay in total?"],
         "fr": "L'addition au restaurant s'élève à {B} €. Nous voulons laisser un pourboire de {t} %. Combien payons-nous au total ?",
         "de": "Die Rechnung im Restaurant beträgt {B} €. Wir wollen {t} % Trinkgeld geben. Wie viel zahlen wir insgesamt?",
         "es": "La cuenta del restaurante es de {B} €. Queremos dejar una propina del {t} %. ¿Cuánto pagamos en total?",
         "it": "Il conto al ristorante è di {B} €. Vogliamo lasciare una mancia del {t}%. Quanto paghiamo in totale?"},
      a={"en": "The tip is {t}% of €{B}, which is {B} × {t} ÷ 100 = €{tip}. Adding it to the bill gives €{B} + €{tip} = €{ans}. Equivalently, we pay {fac} times the bill: {B} × {fac} = {ans}, the same total. So the amount to pay is €{ans}.",
         "fr": "Le pourboire représente {t} % de {B} €, soit {B} × {t} ÷ 100 = {tip} €. En l'ajoutant à l'addition, on obtient {B} € + {tip} € = {ans} €. De manière équivalente, on paie {fac} fois l'addition : {B} × {fac} = {ans}, le même total. Le montant à payer est donc de {ans} €.",
         "de": "Das Trinkgeld sind {t} % von {B} €, also {B} × {t} ÷ 100 = {tip} €. Zur Rechnung addiert ergibt das {B} € + {tip} € = {ans} €. Gleichwertig zahlen wir das {fac}-Fache der Rechnung: {B} × {fac} = {ans}, derselbe Betrag. Insgesamt zahlen wir also {ans} €.",
         "es": "La propina es el {t} % de {B} €, es decir, {B} × {t} ÷ 100 = {tip} €. Sumándola a la cuenta: {B} € + {tip} € = {ans} €. De forma equivalente, pagamos {fac} veces la cuenta: {B} × {fac} = {ans}, el mismo total. Así que pagamos {ans} € en total.",
         "it": "La mancia è il {t}% di {B} €, cioè {B} × {t} ÷ 100 = {tip} €. Sommandola al conto: {B} € + {tip} € = {ans} €. In modo equivalente, paghiamo {fac} volte il conto: {B} × {fac} = {ans}, lo stesso totale. Quindi in totale paghiamo {ans} €."},
      f={"en": "We pay €{ans} in total.", "fr": "Nous payons {ans} € au total.", "de": "Wir zahlen insgesamt {ans} €.",
         "es": "Pagamos {ans} € en total.", "it": "Paghiamo {ans} € in totale."})


def g_rect(r):
    L = r.randint(4, 15)
    W = r.randint(3, L - 1)
    return dict(L=L, W=W, A=L * W, hp=L + W, ans=L * W)


ptype("rectangle_area", "geometry", "train", g_rect,
      q={"en": ["A rectangular garden is {L} m long and {W} m wide. What is its area?",
                "How many square metres of carpet are needed to cover a rectangular room of {L} m by {W} m?"],
         "fr": "Un jardin rectangulaire mesure {L} m de long et {W} m de large. Quelle est son aire ?",
         "de": "Ein rechteckiger Garten ist {L} m lang und {W} m breit. Wie groß ist seine Fläche?",
         "es": "Un jardín rectangular mide {L} m de largo y {W} m de ancho. ¿Cuál es su área?",
         "it": "Un giardino rettangolare è lungo {L} m e largo {W} m. Qual è la sua area?"},
      a={"en": "The area of a rectangle is length times width. Here that is {L} m × {W} m = {A} square metres. I should not add the sides, since that would give half the perimeter ({L} + {W} = {hp} m), not the area. The area is {A} square metres.",
         "fr": "L'aire d'un rectangle est égale à la longueur multipliée par la largeur. Ici, cela donne {L} m × {W} m = {A} mètres carrés. Il ne faut pas additionner les côtés, car on obtiendrait la moitié du périmètre ({L} + {W} = {hp} m), et non l'aire. L'aire est de {A} mètres carrés.",
         "de": "Die Fläche eines Rechtecks ist Länge mal Breite. Hier also {L} m × {W} m = {A} Quadratmeter. Die Seiten darf ich nicht addieren, denn das ergäbe den halben Umfang ({L} + {W} = {hp} m) und nicht die Fläche. Die Fläche beträgt {A} Quadratmeter.",
         "es": "El área de un rectángulo es el largo por el ancho. Aquí eso da {L} m × {W} m = {A} metros cuadrados. No hay que sumar los lados, porque eso daría la mitad del perímetro ({L} + {W} = {hp} m) y no el área. El área es de {A} metros cuadrados.",
         "it": "L'area di un rettangolo è lunghezza per larghezza. Qui si ottiene {L} m × {W} m = {A} metri quadrati. Non bisogna sommare i lati, perché si otterrebbe metà del perimetro ({L} + {W} = {hp} m), non l'area. L'area è di {A} metri quadrati."},
      f={"en": "The area is {A} square metres.", "fr": "L'aire est de {A} mètres carrés.", "de": "Die Fläche beträgt {A} Quadratmeter.",
         "es": "El área es de {A} metros cuadrados.", "it": "L'area è di {A} metri quadrati."})


def g_square(r):
    s = r.randint(3, 12)
    return dict(s=s, A=s * s, P=4 * s, ans=4 * s)


ptype("square_perimeter_from_area", "geometry", "train", g_square,
      q={"en": ["A square has an area of {A} cm². What is its perimeter?",
                "A square tile covers {A} cm². What is the total length of its four sides?"],
         "fr": "Un carré a une aire de {A} cm². Quel est son périmètre ?",
         "de": "Ein Quadrat hat einen Flächeninhalt von {A} cm². Wie groß ist sein Umfang?",
         "es": "Un cuadrado tiene un área de {A} cm². ¿Cuál es su perímetro?",
         "it": "Un quadrato ha un'area di {A} cm². Qual è il suo perimetro?"},
      a={"en": "For a square, the area is the side length squared. I need a number whose square is {A}: {s} × {s} = {A}, so each side is {s} cm. A square has four equal sides, so the perimeter is 4 × {s} = {P} cm. The unit changes from square centimetres to centimetres, because a perimeter is a length.",
         "fr": "Pour un carré, l'aire est le côté au carré. Je cherche un nombre dont le carré vaut {A} : {s} × {s} = {A}, donc chaque côté mesure {s} cm. Un carré a quatre côtés égaux, donc le périmètre vaut 4 × {s} = {P} cm. L'unité passe des centimètres carrés aux centimètres, car un périmètre est une longueur.",
         "de": "Bei einem Quadrat ist der Flächeninhalt die Seitenlänge zum Quadrat. Ich suche eine Zahl, deren Quadrat {A} ist: {s} × {s} = {A}, also ist jede Seite {s} cm lang. Ein Quadrat hat vier gleich lange Seiten, also beträgt der Umfang 4 × {s} = {P} cm. Die Einheit wechselt von Quadratzentimetern zu Zentimetern, weil der Umfang eine Länge ist.",
         "es": "En un cuadrado, el área es el lado al cuadrado. Busco un número cuyo cuadrado sea {A}: {s} × {s} = {A}, así que cada lado mide {s} cm. Un cuadrado tiene cuatro lados iguales, por lo que el perímetro es 4 × {s} = {P} cm. La unidad pasa de centímetros cuadrados a centímetros, porque un perímetro es una longitud.",
         "it": "In un quadrato l'area è il lato al quadrato. Cerco un numero il cui quadrato sia {A}: {s} × {s} = {A}, quindi ogni lato misura {s} cm. Un quadrato ha quattro lati uguali, quindi il perimetro è 4 × {s} = {P} cm. L'unità passa dai centimetri quadrati ai centimetri, perché il perimetro è una lunghezza."},
      f={"en": "The perimeter is {P} cm.", "fr": "Le périmètre est de {P} cm.", "de": "Der Umfang beträgt {P} cm.",
         "es": "El perímetro es de {P} cm.", "it": "Il perimetro è di {P} cm."})


def g_angle(r):
    while True:
        a = r.choice(range(30, 95, 5))
        b = r.choice(range(20, 130, 5))
        c = 180 - a - b
        if c >= 15 and a != b:
            break
    return dict(a=a, b=b, ab=a + b, c=c, ans=c)


ptype("triangle_third_angle", "geometry", "train", g_angle,
      q={"en": ["Two angles of a triangle measure {a}° and {b}°. What is the third angle?",
                "In triangle ABC, angle A = {a}° and angle B = {b}°. Find angle C."],
         "fr": "Deux angles d'un triangle mesurent {a}° et {b}°. Combien mesure le troisième angle ?",
         "de": "Zwei Winkel eines Dreiecks betragen {a}° und {b}°. Wie groß ist der dritte Winkel?",
         "es": "Dos ángulos de un triángulo miden {a}° y {b}°. ¿Cuánto mide el tercer ángulo?",
         "it": "Due angoli di un triangolo misurano {a}° e {b}°. Quanto misura il terzo angolo?"},
      a={"en": "The angles of any triangle add up to 180°. The two known angles together make {a}° + {b}° = {ab}°. The third angle is what is missing to reach 180°: 180° - {ab}° = {c}°. Check: {a} + {b} + {c} = 180, so the third angle is {c}°.",
         "fr": "La somme des angles d'un triangle vaut toujours 180°. Les deux angles connus font ensemble {a}° + {b}° = {ab}°. Le troisième angle est ce qu'il manque pour atteindre 180° : 180° - {ab}° = {c}°. Vérification : {a} + {b} + {c} = 180, donc le troisième angle mesure {c}°.",
         "de": "Die Winkelsumme in jedem Dreieck beträgt 180°. Die beiden bekannten Winkel ergeben zusammen {a}° + {b}° = {ab}°. Der dritte Winkel ist der Rest bis 180°: 180° - {ab}° = {c}°. Probe: {a} + {b} + {c} = 180, also beträgt der dritte Winkel {c}°.",
         "es": "Los ángulos de cualquier triángulo suman 180°. Los dos ángulos conocidos suman {a}° + {b}° = {ab}°. El tercer ángulo es lo que falta para llegar a 180°: 180° - {ab}° = {c}°. Comprobación: {a} + {b} + {c} = 180, así que el tercer ángulo mide {c}°.",
         "it": "La somma degli angoli di un triangolo è sempre 180°. I due angoli noti insieme fanno {a}° + {b}° = {ab}°. Il terzo angolo è ciò che manca per arrivare a 180°: 180° - {ab}° = {c}°. Verifica: {a} + {b} + {c} = 180, quindi il terzo angolo misura {c}°."},
      f={"en": "The third angle is {c}°.", "fr": "Le troisième angle mesure {c}°.", "de": "Der dritte Winkel beträgt {c}°.",
         "es": "El tercer ángulo mide {c}°.", "it": "Il terzo angolo misura {c}°."})


def g_box(r):
    l, w, h = r.randint(3, 12), r.randint(2, 10), r.randint(2, 10)
    return dict(l=l, w=w, h=h, lw=l * w, V=l * w * h, ans=l * w * h)


ptype("box_volume", "geometry", "train", g_box,
      q={"en": ["A box is {l} cm long, {w} cm wide and {h} cm high. What is its volume?"],
         "fr": "Une boîte mesure {l} cm de long, {w} cm de large et {h} cm de haut. Quel est son volume ?",
         "de": "Eine Schachtel ist {l} cm lang, {w} cm breit und {h} cm hoch. Wie groß ist ihr Volumen?",
         "es": "Una caja mide {l} cm de largo, {w} cm de ancho y {h} cm de alto. ¿Cuál es su volumen?",
         "it": "Una scatola è lunga {l} cm, larga {w} cm e alta {h} cm. Qual è il suo volume?"},
      a={"en": "The volume of a rectangular box is length × width × height. I multiply in two steps: first the base, {l} × {w} = {lw} square centimetres, then by the height, {lw} × {h} = {V}. The order of multiplication does not matter, so I use the easiest one. The box has a volume of {V} cubic centimetres.",
         "fr": "Le volume d'un pavé droit est longueur × largeur × hauteur. Je multiplie en deux étapes : d'abord la base, {l} × {w} = {lw} centimètres carrés, puis la hauteur, {lw} × {h} = {V}. L'ordre des multiplications n'a pas d'importance, donc je choisis le plus simple. La boîte a un volume de {V} centimètres cubes.",
         "de": "Das Volumen eines Quaders ist Länge × Breite × Höhe. Ich rechne in zwei Schritten: zuerst die Grundfläche, {l} × {w} = {lw} Quadratzentimeter, dann mit der Höhe, {lw} × {h} = {V}. Die Reihenfolge der Multiplikation spielt keine Rolle, also wähle ich die einfachste. Die Schachtel hat ein Volumen von {V} Kubikzentimetern.",
         "es": "El volumen de una caja rectangular es largo × ancho × alto. Multiplico en dos pasos: primero la base, {l} × {w} = {lw} centímetros cuadrados, y luego por la altura, {lw} × {h} = {V}. El orden de la multiplicación no importa, así que elijo el más sencillo. La caja tiene un volumen de {V} centímetros cúbicos.",
         "it": "Il volume di una scatola a forma di parallelepipedo è lunghezza × larghezza × altezza. Moltiplico in due passaggi: prima la base, {l} × {w} = {lw} centimetri quadrati, poi per l'altezza, {lw} × {h} = {V}. L'ordine delle moltiplicazioni non conta, quindi scelgo il più comodo. La scatola ha un volume di {V} centimetri cubi."},
      f={"en": "Its volume is {V} cubic centimetres.", "fr": "Son volume est de {V} centimètres cubes.",
         "de": "Ihr Volumen beträgt {V} Kubikzentimeter.", "es": "Su volumen es de {V} centímetros cúbicos.",
         "it": "Il suo volume è di {V} centimetri cubi."})


def g_arith_seq(r):
    t0, d = r.randint(1, 20), r.randint(2, 9)
    t = [t0 + i * d for i in range(5)]
    return dict(seq=", ".join(map(str, t)), t0=t[0], t1=t[1], t2=t[2], d=d, last=t[4], ans=t[4] + d)


ptype("arithmetic_sequence_next", "sequence", "train", g_arith_seq,
      q={"en": ["What is the next number in the sequence {seq}, ...?", "Continue the pattern: {seq}, ?"],
         "fr": "Quel est le nombre suivant dans la suite {seq}, ... ?",
         "de": "Welche Zahl kommt als Nächstes in der Folge {seq}, ...?",
         "es": "¿Cuál es el siguiente número de la serie {seq}, ...?",
         "it": "Qual è il numero successivo nella sequenza {seq}, ...?"},
      a={"en": "I look at the differences between consecutive terms: {t1} - {t0} = {d} and {t2} - {t1} = {d}, and the rest of the sequence follows the same step. Since the difference is always {d}, each term is the previous one plus {d}. The last term shown is {last}, so the next term is {last} + {d} = {ans}.",
         "fr": "Je regarde les différences entre termes consécutifs : {t1} - {t0} = {d} et {t2} - {t1} = {d}, et la suite continue avec le même écart. Comme la différence vaut toujours {d}, chaque terme est le précédent plus {d}. Le dernier terme donné est {last}, donc le suivant est {last} + {d} = {ans}.",
         "de": "Ich betrachte die Differenzen aufeinanderfolgender Glieder: {t1} - {t0} = {d} und {t2} - {t1} = {d}, und auch der Rest der Folge hat denselben Abstand. Da die Differenz immer {d} ist, entsteht jedes Glied aus dem vorherigen plus {d}. Das letzte angegebene Glied ist {last}, also ist das nächste {last} + {d} = {ans}.",
         "es": "Miro las diferencias entre términos consecutivos: {t1} - {t0} = {d} y {t2} - {t1} = {d}, y el resto de la serie mantiene el mismo salto. Como la diferencia es siempre {d}, cada término es el anterior más {d}. El último término dado es {last}, así que el siguiente es {last} + {d} = {ans}.",
         "it": "Guardo le differenze tra termini consecutivi: {t1} - {t0} = {d} e {t2} - {t1} = {d}, e il resto della sequenza mantiene lo stesso passo. Poiché la differenza è sempre {d}, ogni termine è il precedente più {d}. L'ultimo termine dato è {last}, quindi il successivo è {last} + {d} = {ans}."},
      f={"en": "The next number is {ans}.", "fr": "Le nombre suivant est {ans}.", "de": "Die nächste Zahl ist {ans}.",
         "es": "El siguiente número es {ans}.", "it": "Il numero successivo è {ans}."})


def g_geo_seq(r):
    ratio = r.choice([2, 3])
    t0 = r.randint(1, 5) if ratio == 2 else r.randint(1, 3)
    t = [t0 * ratio ** i for i in range(5)]
    return dict(seq=", ".join(map(str, t)), t0=t[0], t1=t[1], t2=t[2], r=ratio, d1=t[1] - t[0],
                d2=t[2] - t[1], last=t[4], ans=t[4] * ratio)


ptype("geometric_sequence_next", "sequence", "train", g_geo_seq,
      q={"en": ["Find the next term: {seq}, ...", "What number comes after {seq} in this pattern?"],
         "fr": "Trouve le terme suivant : {seq}, ...",
         "de": "Setze die Folge fort: {seq}, ... Welche Zahl folgt?",
         "es": "Halla el término siguiente: {seq}, ...",
         "it": "Trova il termine successivo: {seq}, ..."},
      a={"en": "The differences are not constant ({t1} - {t0} = {d1}, but {t2} - {t1} = {d2}), so I test ratios instead. {t1} ÷ {t0} = {r} and {t2} ÷ {t1} = {r}: every term is {r} times the previous one. The last term shown is {last}, so the next term is {last} × {r} = {ans}.",
         "fr": "Les différences ne sont pas constantes ({t1} - {t0} = {d1}, mais {t2} - {t1} = {d2}), donc je teste plutôt les quotients. {t1} ÷ {t0} = {r} et {t2} ÷ {t1} = {r} : chaque terme vaut {r} fois le précédent. Le dernier terme donné est {last}, donc le suivant est {last} × {r} = {ans}.",
         "de": "Die Differenzen sind nicht konstant ({t1} - {t0} = {d1}, aber {t2} - {t1} = {d2}), also prüfe ich die Quotienten. {t1} ÷ {t0} = {r} und {t2} ÷ {t1} = {r}: Jedes Glied ist das {r}-Fache des vorherigen. Das letzte angegebene Glied ist {last}, also ist das nächste {last} × {r} = {ans}.",
         "es": "Las diferencias no son constantes ({t1} - {t0} = {d1}, pero {t2} - {t1} = {d2}), así que pruebo con los cocientes. {t1} ÷ {t0} = {r} y {t2} ÷ {t1} = {r}: cada término es {r} veces el anterior. El último término dado es {last}, así que el siguiente es {last} × {r} = {ans}.",
         "it": "Le differenze non sono costanti ({t1} - {t0} = {d1}, ma {t2} - {t1} = {d2}), quindi provo con i rapporti. {t1} ÷ {t0} = {r} e {t2} ÷ {t1} = {r}: ogni termine è {r} volte il precedente. L'ultimo termine dato è {last}, quindi il successivo è {last} × {r} = {ans}."},
      f={"en": "The next term is {ans}.", "fr": "Le terme suivant est {ans}.", "de": "Das nächste Glied ist {ans}.",
         "es": "El término siguiente es {ans}.", "it": "Il termine successivo è {ans}."})


def g_nth(r):
    a, d, n = r.randint(1, 15), r.randint(2, 9), r.randint(8, 25)
    return dict(a=a, d=d, n=n, n1=n - 1, inc=(n - 1) * d, ans=a + (n - 1) * d)


ptype("arithmetic_sequence_nth_term", "sequence", "train", g_nth,
      q={"en": ["A sequence starts at {a} and increases by {d} each step. What is term number {n}?",
                "The first term of an arithmetic sequence is {a} and the common difference is {d}. Find term number {n}."],
         "fr": "Une suite commence à {a} et augmente de {d} à chaque étape. Que vaut le terme numéro {n} ?",
         "de": "Eine Folge beginnt bei {a} und wächst bei jedem Schritt um {d}. Wie lautet das Glied Nummer {n}?",
         "es": "Una sucesión empieza en {a} y aumenta {d} en cada paso. ¿Cuál es el término número {n}?",
         "it": "Una successione parte da {a} e aumenta di {d} a ogni passo. Quanto vale il termine numero {n}?"},
      a={"en": "To get from term 1 to term {n}, I take {n1} steps, not {n}, because the first term is already given. Each step adds {d}, so the total increase is {n1} × {d} = {inc}. Starting from {a}, term number {n} is {a} + {inc} = {ans}. In formula form: a_n = {a} + ({n} - 1) × {d} = {ans}.",
         "fr": "Pour passer du terme 1 au terme {n}, il faut {n1} étapes et non {n}, car le premier terme est déjà donné. Chaque étape ajoute {d}, donc l'augmentation totale est {n1} × {d} = {inc}. En partant de {a}, le terme numéro {n} vaut {a} + {inc} = {ans}. Avec la formule : u_n = {a} + ({n} - 1) × {d} = {ans}.",
         "de": "Vom Glied 1 bis zum Glied {n} sind es {n1} Schritte, nicht {n}, denn das erste Glied ist schon gegeben. Jeder Schritt addiert {d}, also beträgt der gesamte Zuwachs {n1} × {d} = {inc}. Ausgehend von {a} ist das Glied Nummer {n} gleich {a} + {inc} = {ans}. Als Formel: a_n = {a} + ({n} - 1) × {d} = {ans}.",
         "es": "Para pasar del término 1 al término {n} hacen falta {n1} pasos, no {n}, porque el primer término ya está dado. Cada paso suma {d}, así que el aumento total es {n1} × {d} = {inc}. Partiendo de {a}, el término número {n} es {a} + {inc} = {ans}. Con la fórmula: a_n = {a} + ({n} - 1) × {d} = {ans}.",
         "it": "Per passare dal termine 1 al termine {n} servono {n1} passi, non {n}, perché il primo termine è già dato. Ogni passo aggiunge {d}, quindi l'aumento totale è {n1} × {d} = {inc}. Partendo da {a}, il termine numero {n} vale {a} + {inc} = {ans}. Con la formula: a_n = {a} + ({n} - 1) × {d} = {ans}."},
      f={"en": "Term number {n} is {ans}.", "fr": "Le terme numéro {n} vaut {ans}.", "de": "Das Glied Nummer {n} ist {ans}.",
         "es": "El término número {n} es {ans}.", "it": "Il termine numero {n} vale {ans}."})


def g_gauss(r):
    n = r.choice([10, 12, 14, 16, 18, 20, 24, 30, 40, 50, 60, 100])
    return dict(n=n, n1=n + 1, nm1=n - 1, h=n // 2, ans=n * (n + 1) // 2)


ptype("sum_one_to_n", "sequence", "train", g_gauss,
      q={"en": ["What is the sum of all whole numbers from 1 to {n}?", "Add up 1 + 2 + 3 + ... + {n}. What do you get?"],
         "fr": "Quelle est la somme de tous les entiers de 1 à {n} ?",
         "de": "Wie groß ist die Summe aller ganzen Zahlen von 1 bis {n}?",
         "es": "¿Cuánto suman todos los números enteros del 1 al {n}?",
         "it": "Quanto fa la somma di tutti i numeri interi da 1 a {n}?"},
      a={"en": "Adding the numbers one by one would be slow, so I pair them up like Gauss: 1 + {n} = {n1}, 2 + {nm1} = {n1}, and so on. Each pair sums to {n1}, and there are {n} ÷ 2 = {h} pairs. The total is {h} × {n1} = {ans}. This matches the formula n(n + 1)/2 = {n} × {n1} ÷ 2 = {ans}.",
         "fr": "Additionner les nombres un par un serait long, alors je les regroupe par paires comme Gauss : 1 + {n} = {n1}, 2 + {nm1} = {n1}, et ainsi de suite. Chaque paire vaut {n1}, et il y a {n} ÷ 2 = {h} paires. Le total est {h} × {n1} = {ans}. Cela correspond à la formule n(n + 1)/2 = {n} × {n1} ÷ 2 = {ans}.",
         "de": "Die Zahlen einzeln zu addieren wäre mühsam, also bilde ich Paare wie Gauß: 1 + {n} = {n1}, 2 + {nm1} = {n1} und so weiter. Jedes Paar ergibt {n1}, und es gibt {n} ÷ 2 = {h} Paare. Die Summe ist {h} × {n1} = {ans}. Das passt zur Formel n(n + 1)/2 = {n} × {n1} ÷ 2 = {ans}.",
         "es": "Sumar los números uno a uno sería lento, así que los agrupo en parejas como Gauss: 1 + {n} = {n1}, 2 + {nm1} = {n1}, y así sucesivamente. Cada pareja suma {n1}, y hay {n} ÷ 2 = {h} parejas. El total es {h} × {n1} = {ans}. Coincide con la fórmula n(n + 1)/2 = {n} × {n1} ÷ 2 = {ans}.",
         "it": "Sommare i numeri uno per uno sarebbe lento, quindi li raggruppo a coppie come Gauss: 1 + {n} = {n1}, 2 + {nm1} = {n1}, e così via. Ogni coppia dà {n1}, e le coppie sono {n} ÷ 2 = {h}. Il totale è {h} × {n1} = {ans}. Coincide con la formula n(n + 1)/2 = {n} × {n1} ÷ 2 = {ans}."},
      f={"en": "The sum is {ans}.", "fr": "La somme vaut {ans}.", "de": "Die Summe ist {ans}.",
         "es": "La suma es {ans}.", "it": "La somma è {ans}."})


def g_km(r):
    k = r.randint(2, 9)
    m = r.choice([20, 40, 50, 60, 75, 80] + list(range(120, 1000, 70)))
    return dict(k=k, m=m, km=k * 1000, ans=k * 1000 + m)


ptype("km_to_metres", "units", "train", g_km,
      q={"en": ["How many metres are there in {k} km {m} m?", "Convert {k} km and {m} m into metres."],
         "fr": "Combien de mètres y a-t-il dans {k} km et {m} m ?",
         "de": "Wie viele Meter sind {k} km und {m} m?",
         "es": "¿Cuántos metros son {k} km y {m} m?",
         "it": "Quanti metri sono {k} km e {m} m?"},
      a={"en": "One kilometre is 1000 metres, so {k} km is {k} × 1000 = {km} m. Then I add the extra {m} m: {km} + {m} = {ans}. I must not simply write the digits side by side, because the {m} m have to be added to the {km} m. The total is {ans} metres.",
         "fr": "Un kilomètre vaut 1000 mètres, donc {k} km font {k} × 1000 = {km} m. J'ajoute ensuite les {m} m restants : {km} + {m} = {ans}. Il ne faut pas simplement coller les chiffres l'un à côté de l'autre, car les {m} m s'ajoutent aux {km} m. Le total est de {ans} mètres.",
         "de": "Ein Kilometer sind 1000 Meter, also sind {k} km gleich {k} × 1000 = {km} m. Dann addiere ich die zusätzlichen {m} m: {km} + {m} = {ans}. Ich darf die Ziffern nicht einfach nebeneinanderschreiben, denn die {m} m werden zu den {km} m addiert. Insgesamt sind es {ans} Meter.",
         "es": "Un kilómetro son 1000 metros, así que {k} km son {k} × 1000 = {km} m. Luego sumo los {m} m adicionales: {km} + {m} = {ans}. No hay que escribir las cifras una al lado de la otra sin más, porque los {m} m se suman a los {km} m. En total son {ans} metros.",
         "it": "Un chilometro è 1000 metri, quindi {k} km sono {k} × 1000 = {km} m. Poi aggiungo i {m} m in più: {km} + {m} = {ans}. Non bisogna semplicemente affiancare le cifre, perché i {m} m vanno sommati ai {km} m. In totale sono {ans} metri."},
      f={"en": "That is {ans} metres.", "fr": "Cela fait {ans} mètres.", "de": "Das sind {ans} Meter.",
         "es": "Son {ans} metros.", "it": "Sono {ans} metri."})


def g_minutes(r):
    h, m = r.randint(2, 4), r.choice(range(5, 60, 5))
    return dict(h=h, m=m, hm=60 * h, ans=60 * h + m)


ptype("hours_to_minutes", "units", "train", g_minutes,
      q={"en": ["A film lasts {h} hours and {m} minutes. How long is that in minutes?", "How many minutes are there in {h} h {m} min?"],
         "fr": "Un film dure {h} heures et {m} minutes. Combien de minutes cela fait-il ?",
         "de": "Ein Film dauert {h} Stunden und {m} Minuten. Wie viele Minuten sind das?",
         "es": "Una película dura {h} horas y {m} minutos. ¿Cuántos minutos son en total?",
         "it": "Un film dura {h} ore e {m} minuti. Quanti minuti sono in tutto?"},
      a={"en": "An hour has 60 minutes, so {h} hours are {h} × 60 = {hm} minutes. Adding the remaining {m} minutes gives {hm} + {m} = {ans} minutes. A common mistake would be to treat an hour as 100 minutes, but time is counted in sixties here. The total is {ans} minutes.",
         "fr": "Une heure compte 60 minutes, donc {h} heures font {h} × 60 = {hm} minutes. En ajoutant les {m} minutes restantes, on obtient {hm} + {m} = {ans} minutes. Une erreur fréquente serait de compter 100 minutes par heure, mais le temps se compte ici par soixantaines. Le total est de {ans} minutes.",
         "de": "Eine Stunde hat 60 Minuten, also sind {h} Stunden {h} × 60 = {hm} Minuten. Dazu kommen die restlichen {m} Minuten: {hm} + {m} = {ans} Minuten. Ein häufiger Fehler wäre, mit 100 Minuten pro Stunde zu rechnen, aber die Zeit wird hier in Sechzigern gezählt. Insgesamt sind es {ans} Minuten.",
         "es": "Una hora tiene 60 minutos, así que {h} horas son {h} × 60 = {hm} minutos. Sumando los {m} minutos restantes se obtiene {hm} + {m} = {ans} minutos. Un error frecuente sería contar 100 minutos por hora, pero el tiempo se cuenta aquí de sesenta en sesenta. En total son {ans} minutos.",
         "it": "Un'ora ha 60 minuti, quindi {h} ore sono {h} × 60 = {hm} minuti. Aggiungendo i {m} minuti rimanenti si ottiene {hm} + {m} = {ans} minuti. Un errore comune sarebbe contare 100 minuti per ora, ma il tempo qui si conta a sessantine. In totale sono {ans} minuti."},
      f={"en": "That is {ans} minutes.", "fr": "Cela fait {ans} minutes.", "de": "Das sind {ans} Minuten.",
         "es": "Son {ans} minutos.", "it": "Sono {ans} minuti."})


def g_glasses(r):
    L, g = r.randint(2, 5), r.choice([100, 125, 200, 250, 500])
    return dict(L=L, g=g, ml=L * 1000, ans=L * 1000 // g)


ptype("litres_to_glasses", "units", "train", g_glasses,
      q={"en": ["How many {g} ml glasses can be filled from a {L}-litre bottle?",
                "A jug holds {L} litres of lemonade. How many glasses of {g} ml can you pour from it?"],
         "fr": "Combien de verres de {g} ml peut-on remplir avec une bouteille de {L} litres ?",
         "de": "Wie viele Gläser zu {g} ml kann man aus einer {L}-Liter-Flasche füllen?",
         "es": "¿Cuántos vasos de {g} ml se pueden llenar con una botella de {L} litros?",
         "it": "Quanti bicchieri da {g} ml si possono riempire con una bottiglia da {L} litri?"},
      a={"en": "The units differ, so I convert first: 1 litre is 1000 ml, so {L} litres are {L} × 1000 = {ml} ml. Now I divide by the size of one glass: {ml} ÷ {g} = {ans}. The division is exact, so nothing is left over and exactly {ans} glasses can be filled.",
         "fr": "Les unités sont différentes, donc je convertis d'abord : 1 litre vaut 1000 ml, donc {L} litres font {L} × 1000 = {ml} ml. Je divise ensuite par la contenance d'un verre : {ml} ÷ {g} = {ans}. La division tombe juste, il ne reste rien, et on peut remplir exactement {ans} verres.",
         "de": "Die Einheiten sind verschieden, also rechne ich zuerst um: 1 Liter sind 1000 ml, also sind {L} Liter {L} × 1000 = {ml} ml. Jetzt teile ich durch den Inhalt eines Glases: {ml} ÷ {g} = {ans}. Die Division geht glatt auf, es bleibt nichts übrig, und man kann genau {ans} Gläser füllen.",
         "es": "Las unidades son distintas, así que primero convierto: 1 litro son 1000 ml, por lo que {L} litros son {L} × 1000 = {ml} ml. Ahora divido entre la capacidad de un vaso: {ml} ÷ {g} = {ans}. La división es exacta, no sobra nada y se pueden llenar exactamente {ans} vasos.",
         "it": "Le unità sono diverse, quindi prima converto: 1 litro è 1000 ml, quindi {L} litri sono {L} × 1000 = {ml} ml. Ora divido per la capacità di un bicchiere: {ml} ÷ {g} = {ans}. La divisione è esatta, non avanza nulla e si possono riempire esattamente {ans} bicchieri."},
      f={"en": "You can fill {ans} glasses.", "fr": "On peut remplir {ans} verres.", "de": "Man kann {ans} Gläser füllen.",
         "es": "Se pueden llenar {ans} vasos.", "it": "Si possono riempire {ans} bicchieri."})


def g_kmh(r):
    v = r.choice([18, 36, 54, 72, 90, 108])
    return dict(v=v, m=v * 1000, ans=v * 5 // 18)


ptype("kmh_to_ms", "units", "train", g_kmh,
      q={"en": ["A car is driving at {v} km/h. What is its speed in metres per second?", "Convert {v} km/h to m/s."],
         "fr": "Une voiture roule à {v} km/h. Quelle est sa vitesse en mètres par seconde ?",
         "de": "Ein Auto fährt mit {v} km/h. Wie viele Meter pro Sekunde sind das?",
         "es": "Un coche circula a {v} km/h. ¿Cuál es su velocidad en metros por segundo?",
         "it": "Un'auto viaggia a {v} km/h. Qual è la sua velocità in metri al secondo?"},
      a={"en": "A speed of {v} km/h means {v} km in one hour. In metres that is {v} × 1000 = {m} m, and one hour has 3600 seconds. So the speed is {m} ÷ 3600 = {ans} m/s. A shortcut is to divide by 3.6: {v} ÷ 3.6 = {ans}, which agrees.",
         "fr": "Une vitesse de {v} km/h signifie {v} km en une heure. En mètres, cela fait {v} × 1000 = {m} m, et une heure compte 3600 secondes. La vitesse est donc {m} ÷ 3600 = {ans} m/s. Un raccourci consiste à diviser par 3,6 : {v} ÷ 3,6 = {ans}, ce qui concorde.",
         "de": "Eine Geschwindigkeit von {v} km/h bedeutet {v} km in einer Stunde. In Metern sind das {v} × 1000 = {m} m, und eine Stunde hat 3600 Sekunden. Die Geschwindigkeit ist also {m} ÷ 3600 = {ans} m/s. Eine Abkürzung ist die Division durch 3,6: {v} ÷ 3,6 = {ans}, das passt.",
         "es": "Una velocidad de {v} km/h significa {v} km en una hora. En metros son {v} × 1000 = {m} m, y una hora tiene 3600 segundos. Por tanto, la velocidad es {m} ÷ 3600 = {ans} m/s. Un atajo es dividir entre 3,6: {v} ÷ 3,6 = {ans}, y coincide.",
         "it": "Una velocità di {v} km/h significa {v} km in un'ora. In metri sono {v} × 1000 = {m} m, e un'ora ha 3600 secondi. Quindi la velocità è {m} ÷ 3600 = {ans} m/s. Una scorciatoia è dividere per 3,6: {v} ÷ 3,6 = {ans}, e il risultato coincide."},
      f={"en": "That is {ans} m/s.", "fr": "Cela fait {ans} m/s.", "de": "Das sind {ans} m/s.",
         "es": "Son {ans} m/s.", "it": "Sono {ans} m/s."})


def g_hands(r):
    n = r.randint(4, 12)
    return dict(n=n, n1=n - 1, prod=n * (n - 1), ans=n * (n - 1) // 2)


ptype("handshakes", "logic", "train", g_hands,
      q={"en": ["At a meeting, {n} people each shake hands with every other person exactly once. How many handshakes are there?",
                "{n} friends meet and everyone greets everyone else with one handshake. How many handshakes take place?"],
         "fr": "Lors d'une réunion, {n} personnes se serrent toutes la main une seule fois. Combien de poignées de main y a-t-il ?",
         "de": "Bei einem Treffen gibt jede von {n} Personen jeder anderen genau einmal die Hand. Wie viele Händedrücke gibt es?",
         "es": "En una reunión, cada una de {n} personas estrecha la mano de todas las demás una sola vez. ¿Cuántos apretones de manos hay?",
         "it": "A una riunione, ognuna di {n} persone stringe la mano a tutte le altre una sola volta. Quante strette di mano ci sono?"},
      a={"en": "Each of the {n} people shakes hands with the other {n1} people, which gives {n} × {n1} = {prod}. But this counts every handshake twice, once for each person involved. So I divide by 2: {prod} ÷ 2 = {ans}. There are {ans} handshakes.",
         "fr": "Chacune des {n} personnes serre la main des {n1} autres, ce qui donne {n} × {n1} = {prod}. Mais on compte ainsi chaque poignée de main deux fois, une fois pour chaque personne concernée. Je divise donc par 2 : {prod} ÷ 2 = {ans}. Il y a {ans} poignées de main.",
         "de": "Jede der {n} Personen gibt den {n1} anderen die Hand, das ergibt {n} × {n1} = {prod}. Dabei wird aber jeder Händedruck doppelt gezählt, einmal für jede beteiligte Person. Also teile ich durch 2: {prod} ÷ 2 = {ans}. Es gibt {ans} Händedrücke.",
         "es": "Cada una de las {n} personas da la mano a las otras {n1}, lo que da {n} × {n1} = {prod}. Pero así cada apretón se cuenta dos veces, una por cada persona implicada. Por eso divido entre 2: {prod} ÷ 2 = {ans}. Hay {ans} apretones de manos.",
         "it": "Ognuna delle {n} persone stringe la mano alle altre {n1}, il che dà {n} × {n1} = {prod}. Però così ogni stretta di mano viene contata due volte, una per ciascuna persona coinvolta. Quindi divido per 2: {prod} ÷ 2 = {ans}. Ci sono {ans} strette di mano."},
      f={"en": "There are {ans} handshakes.", "fr": "Il y a {ans} poignées de main.", "de": "Es gibt {ans} Händedrücke.",
         "es": "Hay {ans} apretones de manos.", "it": "Ci sono {ans} strette di mano."})


def g_queue(r):
    a, b = r.randint(3, 12), r.randint(3, 12)
    return dict(name=r.choice(FEM), a=a, b=b, a1=a - 1, b1=b - 1, ab=a + b, ans=a + b - 1)


ptype("queue_position", "logic", "train", g_queue,
      q={"en": ["In a queue, {name} is in position {a} counting from the front and in position {b} counting from the back. How many people are in the queue?"],
         "fr": "Dans une file d'attente, {name} est en position {a} en comptant depuis l'avant et en position {b} en comptant depuis l'arrière. Combien de personnes y a-t-il dans la file ?",
         "de": "In einer Warteschlange steht {name} von vorne gezählt an Position {a} und von hinten gezählt an Position {b}. Wie viele Personen stehen in der Schlange?",
         "es": "En una cola, {name} está en la posición {a} contando desde delante y en la posición {b} contando desde atrás. ¿Cuántas personas hay en la cola?",
         "it": "In una fila, {name} è in posizione {a} contando dall'inizio e in posizione {b} contando dalla fine. Quante persone ci sono nella fila?"},
      a={"en": "Being in position {a} from the front means there are {a1} people ahead of {name}. Being in position {b} from the back means there are {b1} people behind her. Adding everyone, including {name} once: {a1} + {b1} + 1 = {ans}. The tempting answer {a} + {b} = {ab} is wrong because it counts {name} twice.",
         "fr": "Être en position {a} depuis l'avant signifie qu'il y a {a1} personnes devant {name}. Être en position {b} depuis l'arrière signifie qu'il y a {b1} personnes derrière elle. En comptant tout le monde, {name} une seule fois : {a1} + {b1} + 1 = {ans}. La réponse tentante {a} + {b} = {ab} est fausse, car elle compte {name} deux fois.",
         "de": "Position {a} von vorne bedeutet, dass {a1} Personen vor {name} stehen. Position {b} von hinten bedeutet, dass {b1} Personen hinter ihr stehen. Zähle ich alle zusammen, {name} nur einmal: {a1} + {b1} + 1 = {ans}. Die naheliegende Antwort {a} + {b} = {ab} ist falsch, weil sie {name} doppelt zählt.",
         "es": "Estar en la posición {a} desde delante significa que hay {a1} personas delante de {name}. Estar en la posición {b} desde atrás significa que hay {b1} personas detrás de ella. Sumando a todos y contando a {name} una sola vez: {a1} + {b1} + 1 = {ans}. La respuesta tentadora {a} + {b} = {ab} es incorrecta porque cuenta a {name} dos veces.",
         "it": "Essere in posizione {a} dall'inizio significa che ci sono {a1} persone davanti a {name}. Essere in posizione {b} dalla fine significa che ci sono {b1} persone dietro di lei. Contando tutti, {name} una sola volta: {a1} + {b1} + 1 = {ans}. La risposta istintiva {a} + {b} = {ab} è sbagliata perché conta {name} due volte."},
      f={"en": "There are {ans} people in the queue.", "fr": "Il y a {ans} personnes dans la file.",
         "de": "In der Schlange stehen {ans} Personen.", "es": "Hay {ans} personas en la cola.",
         "it": "Nella fila ci sono {ans} persone."})


def g_farm(r):
    c, rb = r.randint(2, 12), r.randint(2, 10)
    H = c + rb
    L = 2 * c + 4 * rb
    return dict(c=c, r=rb, H=H, L=L, L2=2 * H, extra=L - 2 * H, c2=2 * c, r4=4 * rb, ans=rb)


ptype("chickens_and_rabbits", "logic", "train", g_farm,
      q={"en": ["A farm has chickens and rabbits: {H} heads and {L} legs in total. How many rabbits are there?",
                "Counting the chickens and rabbits in a yard, I see {H} heads and {L} legs. How many of the animals are rabbits?"],
         "fr": "Dans une ferme, il y a des poules et des lapins : {H} têtes et {L} pattes en tout. Combien y a-t-il de lapins ?",
         "de": "Auf einem Hof gibt es Hühner und Kaninchen, zusammen {H} Köpfe und {L} Beine. Wie viele Kaninchen sind es?",
         "es": "En una granja hay gallinas y conejos: {H} cabezas y {L} patas en total. ¿Cuántos conejos hay?",
         "it": "In una fattoria ci sono galline e conigli: {H} teste e {L} zampe in tutto. Quanti conigli ci sono?"},
      a={"en": "Suppose all {H} animals were chickens: that would give {H} × 2 = {L2} legs. There are actually {L} legs, so {L} - {L2} = {extra} legs are unaccounted for. Each rabbit has 2 more legs than a chicken, so the number of rabbits is {extra} ÷ 2 = {r}. Check: {c} chickens and {r} rabbits give {c2} + {r4} = {L} legs.",
         "fr": "Supposons que les {H} animaux soient tous des poules : cela ferait {H} × 2 = {L2} pattes. Or il y a {L} pattes, donc il manque {L} - {L2} = {extra} pattes. Chaque lapin a 2 pattes de plus qu'une poule, donc le nombre de lapins est {extra} ÷ 2 = {r}. Vérification : {c} poules et {r} lapins donnent {c2} + {r4} = {L} pattes.",
         "de": "Angenommen, alle {H} Tiere wären Hühner: Das ergäbe {H} × 2 = {L2} Beine. Tatsächlich sind es {L} Beine, also fehlen {L} - {L2} = {extra} Beine. Jedes Kaninchen hat 2 Beine mehr als ein Huhn, also gibt es {extra} ÷ 2 = {r} Kaninchen. Probe: {c} Hühner und {r} Kaninchen haben {c2} + {r4} = {L} Beine.",
         "es": "Supongamos que los {H} animales fueran gallinas: eso daría {H} × 2 = {L2} patas. Pero hay {L} patas, así que faltan {L} - {L2} = {extra} patas. Cada conejo tiene 2 patas más que una gallina, por lo que hay {extra} ÷ 2 = {r} conejos. Comprobación: {c} gallinas y {r} conejos suman {c2} + {r4} = {L} patas.",
         "it": "Supponiamo che tutti i {H} animali siano galline: si avrebbero {H} × 2 = {L2} zampe. Invece le zampe sono {L}, quindi ne mancano {L} - {L2} = {extra}. Ogni coniglio ha 2 zampe in più di una gallina, quindi i conigli sono {extra} ÷ 2 = {r}. Verifica: {c} galline e {r} conigli hanno {c2} + {r4} = {L} zampe."},
      f={"en": "There are {r} rabbits.", "fr": "Il y a {r} lapins.", "de": "Es sind {r} Kaninchen.",
         "es": "Hay {r} conejos.", "it": "Ci sono {r} conigli."})


def g_fence(r):
    s, k = r.choice([2, 3, 4, 5]), r.randint(3, 12)
    return dict(s=s, k=k, L=s * k, ans=k + 1)


ptype("fence_posts", "logic", "train", g_fence,
      q={"en": ["A straight fence is {L} m long, with a post every {s} m, including one at each end. How many posts are there?"],
         "fr": "Une clôture droite mesure {L} m de long, avec un poteau tous les {s} m, y compris aux deux extrémités. Combien y a-t-il de poteaux ?",
         "de": "Ein gerader Zaun ist {L} m lang. Alle {s} m steht ein Pfosten, auch an beiden Enden. Wie viele Pfosten sind es?",
         "es": "Una valla recta mide {L} m, con un poste cada {s} m, incluidos los dos extremos. ¿Cuántos postes hay?",
         "it": "Una recinzione dritta è lunga {L} m, con un palo ogni {s} m, compresi i due estremi. Quanti pali ci sono?"},
      a={"en": "The posts split the fence into gaps of {s} m, and there are {L} ÷ {s} = {k} gaps. On a straight line with posts at both ends, there is always one more post than gaps. So the number of posts is {k} + 1 = {ans}. A quick check with a tiny fence: one gap needs two posts.",
         "fr": "Les poteaux découpent la clôture en intervalles de {s} m, et il y a {L} ÷ {s} = {k} intervalles. Sur une ligne droite avec un poteau à chaque bout, il y a toujours un poteau de plus que d'intervalles. Le nombre de poteaux est donc {k} + 1 = {ans}. Petite vérification : un seul intervalle demande deux poteaux.",
         "de": "Die Pfosten teilen den Zaun in Abschnitte von {s} m, und es gibt {L} ÷ {s} = {k} Abschnitte. Auf einer geraden Linie mit Pfosten an beiden Enden gibt es immer einen Pfosten mehr als Abschnitte. Also sind es {k} + 1 = {ans} Pfosten. Kurze Kontrolle: Ein einziger Abschnitt braucht zwei Pfosten.",
         "es": "Los postes dividen la valla en tramos de {s} m, y hay {L} ÷ {s} = {k} tramos. En una línea recta con postes en ambos extremos, siempre hay un poste más que tramos. Por tanto, el número de postes es {k} + 1 = {ans}. Comprobación rápida: un solo tramo necesita dos postes.",
         "it": "I pali dividono la recinzione in tratti di {s} m, e i tratti sono {L} ÷ {s} = {k}. Su una linea dritta con pali a entrambi gli estremi, c'è sempre un palo in più rispetto ai tratti. Quindi i pali sono {k} + 1 = {ans}. Verifica veloce: un solo tratto richiede due pali."},
      f={"en": "There are {ans} posts.", "fr": "Il y a {ans} poteaux.", "de": "Es sind {ans} Pfosten.",
         "es": "Hay {ans} postes.", "it": "Ci sono {ans} pali."})


# =====================================================================
# EVAL problem types (held out: none of these problems appears in train)
# =====================================================================

def g_sqdiff(r):
    a = r.randint(11, 30)
    b = r.randint(3, a - 2)
    return dict(a=a, b=b, dif=a - b, sm=a + b, a2=a * a, b2=b * b, ans=a * a - b * b)


ptype("difference_of_squares", "arithmetic", "eval", g_sqdiff,
      q={"en": ["Calculate {a}² - {b}² without a calculator."],
         "fr": "Calcule {a}² - {b}² sans calculatrice.",
         "de": "Berechne {a}² - {b}² ohne Taschenrechner.",
         "es": "Calcula {a}² - {b}² sin calculadora.",
         "it": "Calcola {a}² - {b}² senza calcolatrice.",
         "zh": "不用计算器，计算 {a}² - {b}²。"},
      a={"en": "Instead of squaring both numbers, I use the identity a² - b² = (a - b)(a + b). Here a - b = {a} - {b} = {dif} and a + b = {a} + {b} = {sm}. The product is {dif} × {sm} = {ans}. Check directly: {a}² = {a2} and {b}² = {b2}, and {a2} - {b2} = {ans}.",
         "fr": "Plutôt que d'élever les deux nombres au carré, j'utilise l'identité a² - b² = (a - b)(a + b). Ici, a - b = {a} - {b} = {dif} et a + b = {a} + {b} = {sm}. Le produit vaut {dif} × {sm} = {ans}. Vérification directe : {a}² = {a2} et {b}² = {b2}, et {a2} - {b2} = {ans}.",
         "de": "Statt beide Zahlen zu quadrieren, nutze ich die binomische Formel a² - b² = (a - b)(a + b). Hier ist a - b = {a} - {b} = {dif} und a + b = {a} + {b} = {sm}. Das Produkt ist {dif} × {sm} = {ans}. Direkte Probe: {a}² = {a2} und {b}² = {b2}, und {a2} - {b2} = {ans}.",
         "es": "En lugar de elevar ambos números al cuadrado, uso la identidad a² - b² = (a - b)(a + b). Aquí a - b = {a} - {b} = {dif} y a + b = {a} + {b} = {sm}. El producto es {dif} × {sm} = {ans}. Comprobación directa: {a}² = {a2} y {b}² = {b2}, y {a2} - {b2} = {ans}.",
         "it": "Invece di elevare al quadrato entrambi i numeri, uso l'identità a² - b² = (a - b)(a + b). Qui a - b = {a} - {b} = {dif} e a + b = {a} + {b} = {sm}. Il prodotto è {dif} × {sm} = {ans}. Verifica diretta: {a}² = {a2} e {b}² = {b2}, e {a2} - {b2} = {ans}.",
         "zh": "与其分别计算两个平方，不如用平方差公式 a² - b² = (a - b)(a + b)。这里 a - b = {a} - {b} = {dif}，a + b = {a} + {b} = {sm}。两者相乘得 {dif} × {sm} = {ans}。直接验算：{a}² = {a2}，{b}² = {b2}，{a2} - {b2} = {ans}，结果一致。"},
      f={"en": "The result is {ans}.", "fr": "Le résultat est {ans}.", "de": "Das Ergebnis ist {ans}.",
         "es": "El resultado es {ans}.", "it": "Il risultato è {ans}.", "zh": "结果是 {ans}。"})


def g_avg(r):
    while True:
        ts = [r.randint(5, 30) for _ in range(4)]
        if len(set(ts)) == 4 and sum(ts) % 4 == 0:
            break
    return dict(t1=ts[0], t2=ts[1], t3=ts[2], t4=ts[3], S=sum(ts), m=sum(ts) // 4, lo=min(ts), hi=max(ts),
                ans=sum(ts) // 4)


ptype("average_temperature", "arithmetic", "eval", g_avg,
      q={"en": ["At noon on four days the temperature was {t1} °C, {t2} °C, {t3} °C and {t4} °C. What was the average noon temperature?"],
         "fr": "À midi, pendant quatre jours, il a fait {t1} °C, {t2} °C, {t3} °C et {t4} °C. Quelle a été la température moyenne ?",
         "de": "An vier Tagen wurden mittags {t1} °C, {t2} °C, {t3} °C und {t4} °C gemessen. Wie hoch war die Durchschnittstemperatur?",
         "es": "Durante cuatro días, a mediodía hubo {t1} °C, {t2} °C, {t3} °C y {t4} °C. ¿Cuál fue la temperatura media?",
         "it": "Per quattro giorni, a mezzogiorno, la temperatura è stata di {t1} °C, {t2} °C, {t3} °C e {t4} °C. Qual è stata la temperatura media?",
         "zh": "连续四天中午的气温分别是 {t1} °C、{t2} °C、{t3} °C 和 {t4} °C。平均气温是多少？"},
      a={"en": "The average is the total divided by the number of values. The total is {t1} + {t2} + {t3} + {t4} = {S}. There are 4 days, so the average is {S} ÷ 4 = {m} °C. It lies between the lowest value, {lo}, and the highest, {hi}, as an average must.",
         "fr": "La moyenne est la somme des valeurs divisée par leur nombre. La somme vaut {t1} + {t2} + {t3} + {t4} = {S}. Il y a 4 jours, donc la moyenne est {S} ÷ 4 = {m} °C. Elle se situe bien entre la plus petite valeur, {lo}, et la plus grande, {hi}, comme toute moyenne.",
         "de": "Der Durchschnitt ist die Summe geteilt durch die Anzahl der Werte. Die Summe ist {t1} + {t2} + {t3} + {t4} = {S}. Es sind 4 Tage, also ist der Durchschnitt {S} ÷ 4 = {m} °C. Er liegt zwischen dem kleinsten Wert {lo} und dem größten Wert {hi}, wie es bei einem Mittelwert sein muss.",
         "es": "La media es la suma de los valores dividida entre cuántos hay. La suma es {t1} + {t2} + {t3} + {t4} = {S}. Son 4 días, así que la media es {S} ÷ 4 = {m} °C. Está entre el valor más bajo, {lo}, y el más alto, {hi}, como debe ocurrir con una media.",
         "it": "La media è la somma dei valori divisa per il loro numero. La somma è {t1} + {t2} + {t3} + {t4} = {S}. I giorni sono 4, quindi la media è {S} ÷ 4 = {m} °C. Si trova tra il valore più basso, {lo}, e quello più alto, {hi}, come deve essere per una media.",
         "zh": "平均数等于总和除以数据的个数。四天的总和是 {t1} + {t2} + {t3} + {t4} = {S}。一共 4 天，所以平均气温是 {S} ÷ 4 = {m} °C。这个结果介于最低值 {lo} 和最高值 {hi} 之间，符合平均数的特点。"},
      f={"en": "The average temperature was {m} °C.", "fr": "La température moyenne a été de {m} °C.",
         "de": "Die Durchschnittstemperatur betrug {m} °C.", "es": "La temperatura media fue de {m} °C.",
         "it": "La temperatura media è stata di {m} °C.", "zh": "平均气温是 {m} °C。"})


def g_think(r):
    while True:
        a, x, b = r.randint(2, 6), r.randint(3, 15), r.randint(1, 12)
        c = a * x - b
        if c > 0:
            break
    return dict(a=a, x=x, b=b, c=c, cb=c + b, ans=x)


ptype("think_of_a_number", "algebra", "eval", g_think,
      q={"en": ["I think of a number, multiply it by {a} and subtract {b}. The result is {c}. What was my number?"],
         "fr": "Je pense à un nombre, je le multiplie par {a} puis je retranche {b}. J'obtiens {c}. Quel était mon nombre ?",
         "de": "Ich denke mir eine Zahl, multipliziere sie mit {a} und ziehe {b} ab. Heraus kommt {c}. Welche Zahl habe ich mir gedacht?",
         "es": "Pienso un número, lo multiplico por {a} y le resto {b}. Obtengo {c}. ¿Qué número pensé?",
         "it": "Penso un numero, lo moltiplico per {a} e sottraggo {b}. Ottengo {c}. Qual era il mio numero?",
         "zh": "我心里想一个数，把它乘以 {a}，再减去 {b}，结果是 {c}。我想的数是多少？"},
      a={"en": "I undo the operations in reverse order. The last step was subtracting {b}, so before that the value was {c} + {b} = {cb}. Before that the number had been multiplied by {a}, so I divide: {cb} ÷ {a} = {x}. Check: {x} × {a} = {cb}, and {cb} - {b} = {c}. The number was {x}.",
         "fr": "J'annule les opérations dans l'ordre inverse. La dernière étape était de retrancher {b}, donc avant cela on avait {c} + {b} = {cb}. Auparavant, le nombre avait été multiplié par {a}, donc je divise : {cb} ÷ {a} = {x}. Vérification : {x} × {a} = {cb}, et {cb} - {b} = {c}. Le nombre était {x}.",
         "de": "Ich mache die Rechenschritte in umgekehrter Reihenfolge rückgängig. Zuletzt wurde {b} abgezogen, also war der Wert davor {c} + {b} = {cb}. Davor wurde mit {a} multipliziert, also teile ich: {cb} ÷ {a} = {x}. Probe: {x} × {a} = {cb}, und {cb} - {b} = {c}. Die gedachte Zahl war {x}.",
         "es": "Deshago las operaciones en orden inverso. El último paso fue restar {b}, así que antes el valor era {c} + {b} = {cb}. Antes de eso el número se había multiplicado por {a}, así que divido: {cb} ÷ {a} = {x}. Comprobación: {x} × {a} = {cb}, y {cb} - {b} = {c}. El número era {x}.",
         "it": "Annullo le operazioni in ordine inverso. L'ultimo passo è stato sottrarre {b}, quindi prima il valore era {c} + {b} = {cb}. Ancora prima il numero era stato moltiplicato per {a}, quindi divido: {cb} ÷ {a} = {x}. Verifica: {x} × {a} = {cb}, e {cb} - {b} = {c}. Il numero era {x}.",
         "zh": "我按相反的顺序把运算倒推回去。最后一步是减去 {b}，所以在这之前的值是 {c} + {b} = {cb}。再之前是乘以 {a}，所以用除法还原：{cb} ÷ {a} = {x}。验算：{x} × {a} = {cb}，{cb} - {b} = {c}，正确。所想的数是 {x}。"},
      f={"en": "Your number was {x}.", "fr": "Ton nombre était {x}.", "de": "Deine Zahl war {x}.",
         "es": "Tu número era {x}.", "it": "Il tuo numero era {x}.", "zh": "你想的数是 {x}。"})


def g_consec(r):
    n = r.randint(4, 15)
    return dict(n=n, n1=n + 1, P=n * (n + 1), ans=n)


ptype("consecutive_product", "algebra", "eval", g_consec,
      q={"en": ["The product of two consecutive positive whole numbers is {P}. What is the smaller of the two?"],
         "fr": "Le produit de deux entiers positifs consécutifs vaut {P}. Quel est le plus petit des deux ?",
         "de": "Das Produkt zweier aufeinanderfolgender positiver ganzer Zahlen ist {P}. Wie lautet die kleinere Zahl?",
         "es": "El producto de dos números enteros positivos consecutivos es {P}. ¿Cuál es el menor de los dos?",
         "it": "Il prodotto di due numeri interi positivi consecutivi è {P}. Qual è il minore dei due?",
         "zh": "两个连续正整数的乘积是 {P}。较小的那个数是多少？"},
      a={"en": "Call the smaller number n, so n(n + 1) = {P}. The two numbers are close together, so each is near the square root of {P}, which is a bit more than {n}. Trying n = {n}: {n} × {n1} = {P}, which is exactly right. So the numbers are {n} and {n1}, and the smaller one is {n}.",
         "fr": "Appelons n le plus petit nombre, de sorte que n(n + 1) = {P}. Les deux nombres sont proches, donc chacun est voisin de la racine carrée de {P}, qui est un peu plus grande que {n}. J'essaie n = {n} : {n} × {n1} = {P}, c'est exactement ça. Les nombres sont donc {n} et {n1}, et le plus petit est {n}.",
         "de": "Ich nenne die kleinere Zahl n, also gilt n(n + 1) = {P}. Die beiden Zahlen liegen dicht beieinander, daher ist jede ungefähr die Wurzel aus {P}, die etwas größer als {n} ist. Ich probiere n = {n}: {n} × {n1} = {P}, das passt genau. Die Zahlen sind also {n} und {n1}, und die kleinere ist {n}.",
         "es": "Llamo n al número menor, de modo que n(n + 1) = {P}. Los dos números están muy próximos, así que cada uno se acerca a la raíz cuadrada de {P}, que es algo mayor que {n}. Pruebo n = {n}: {n} × {n1} = {P}, justo lo que buscaba. Los números son {n} y {n1}, y el menor es {n}.",
         "it": "Chiamo n il numero minore, quindi n(n + 1) = {P}. I due numeri sono vicini, quindi ciascuno è prossimo alla radice quadrata di {P}, che è poco più di {n}. Provo n = {n}: {n} × {n1} = {P}, esattamente. I numeri sono quindi {n} e {n1}, e il minore è {n}.",
         "zh": "设较小的数为 n，则 n(n + 1) = {P}。两个数相差很小，所以都接近 {P} 的平方根，而这个平方根比 {n} 稍大一点。试 n = {n}：{n} × {n1} = {P}，正好相等。所以这两个数是 {n} 和 {n1}，较小的是 {n}。"},
      f={"en": "The smaller number is {n}.", "fr": "Le plus petit est {n}.", "de": "Die kleinere Zahl ist {n}.",
         "es": "El menor es {n}.", "it": "Il minore è {n}.", "zh": "较小的数是 {n}。"})


def g_tickets(r):
    A = r.choice([8, 10, 12, 14, 16])
    na, nc = r.randint(2, 3), r.randint(2, 4)
    C = A // 2
    return dict(A=A, C=C, na=na, nc=nc, ta=na * A, tc=nc * C, ans=na * A + nc * C)


ptype("cinema_tickets_half_price", "word_problem", "eval", g_tickets,
      q={"en": ["A cinema ticket costs €{A} for adults, and children pay half price. How much do {na} adults and {nc} children pay altogether?"],
         "fr": "Au cinéma, une place adulte coûte {A} € et les enfants paient demi-tarif. Combien paient {na} adultes et {nc} enfants en tout ?",
         "de": "Eine Kinokarte kostet für Erwachsene {A} €, Kinder zahlen den halben Preis. Wie viel zahlen {na} Erwachsene und {nc} Kinder zusammen?",
         "es": "Una entrada de cine cuesta {A} € para adultos y los niños pagan la mitad. ¿Cuánto pagan en total {na} adultos y {nc} niños?",
         "it": "Un biglietto del cinema costa {A} € per gli adulti e i bambini pagano metà prezzo. Quanto pagano in tutto {na} adulti e {nc} bambini?",
         "zh": "电影票成人每张 {A} 欧元，儿童半价。{na} 个大人和 {nc} 个孩子一共要付多少欧元？"},
      a={"en": "A child's ticket is half of €{A}, so €{C}. The adults pay {na} × €{A} = €{ta}, and the children pay {nc} × €{C} = €{tc}. Together that is €{ta} + €{tc} = €{ans}. The half price applies only to the children, not to the adults, so the total is €{ans}.",
         "fr": "Une place enfant coûte la moitié de {A} €, soit {C} €. Les adultes paient {na} × {A} € = {ta} €, et les enfants {nc} × {C} € = {tc} €. Au total, cela fait {ta} € + {tc} € = {ans} €. Le demi-tarif ne s'applique qu'aux enfants, pas aux adultes, donc le total est de {ans} €.",
         "de": "Eine Kinderkarte kostet die Hälfte von {A} €, also {C} €. Die Erwachsenen zahlen {na} × {A} € = {ta} €, die Kinder {nc} × {C} € = {tc} €. Zusammen sind das {ta} € + {tc} € = {ans} €. Der halbe Preis gilt nur für die Kinder, nicht für die Erwachsenen, also beträgt die Summe {ans} €.",
         "es": "Una entrada infantil cuesta la mitad de {A} €, es decir, {C} €. Los adultos pagan {na} × {A} € = {ta} €, y los niños {nc} × {C} € = {tc} €. En total son {ta} € + {tc} € = {ans} €. La mitad de precio solo se aplica a los niños, no a los adultos, así que el total es {ans} €.",
         "it": "Un biglietto per bambini costa la metà di {A} €, cioè {C} €. Gli adulti pagano {na} × {A} € = {ta} €, i bambini {nc} × {C} € = {tc} €. In tutto fanno {ta} € + {tc} € = {ans} €. Il prezzo ridotto vale solo per i bambini, non per gli adulti, quindi il totale è {ans} €.",
         "zh": "儿童票是 {A} 欧元的一半，也就是 {C} 欧元。大人共付 {na} × {A} = {ta} 欧元，孩子共付 {nc} × {C} = {tc} 欧元。合计 {ta} + {tc} = {ans} 欧元。半价只适用于孩子，不适用于大人，所以总共是 {ans} 欧元。"},
      f={"en": "Altogether they pay €{ans}.", "fr": "Ils paient {ans} € en tout.", "de": "Zusammen zahlen sie {ans} €.",
         "es": "Pagan {ans} € en total.", "it": "In tutto pagano {ans} €.", "zh": "他们一共要付 {ans} 欧元。"})


def g_leak(r):
    f_ = r.randint(6, 12)
    g = r.randint(2, f_ - 2)
    n = r.randint(5, 20)
    net = f_ - g
    return dict(f=f_, g=g, net=net, n=n, T=net * n, ans=n)


ptype("tank_with_leak", "word_problem", "eval", g_leak,
      q={"en": ["An empty tank holds {T} litres. A tap pours in {f} litres per minute, but a leak lets {g} litres per minute escape. How many minutes does it take to fill the tank?"],
         "fr": "Une cuve vide contient {T} litres quand elle est pleine. Un robinet y verse {f} litres par minute, mais une fuite en laisse échapper {g} litres par minute. Combien de minutes faut-il pour la remplir ?",
         "de": "Ein leerer Tank fasst {T} Liter. Ein Hahn füllt {f} Liter pro Minute ein, aber durch ein Leck fließen {g} Liter pro Minute ab. Wie viele Minuten dauert es, bis der Tank voll ist?",
         "es": "Un depósito vacío tiene una capacidad de {T} litros. Un grifo echa {f} litros por minuto, pero por una fuga se pierden {g} litros por minuto. ¿Cuántos minutos tarda en llenarse?",
         "it": "Un serbatoio vuoto ha una capacità di {T} litri. Un rubinetto versa {f} litri al minuto, ma da una perdita escono {g} litri al minuto. Quanti minuti servono per riempirlo?",
         "zh": "一个空水箱容量是 {T} 升。水龙头每分钟注入 {f} 升，但有个漏洞每分钟漏掉 {g} 升。需要多少分钟才能把水箱装满？"},
      a={"en": "The tap and the leak work at the same time, so what counts is the net flow: {f} - {g} = {net} litres per minute. The tank needs {T} litres, so the time is {T} ÷ {net} = {n} minutes. Ignoring the leak would give a shorter, wrong time. Check: {n} × {net} = {T}.",
         "fr": "Le robinet et la fuite agissent en même temps, donc ce qui compte est le débit net : {f} - {g} = {net} litres par minute. Il faut {T} litres, donc le temps est de {T} ÷ {net} = {n} minutes. Ignorer la fuite donnerait un temps plus court, donc faux. Vérification : {n} × {net} = {T}.",
         "de": "Hahn und Leck wirken gleichzeitig, also zählt der Nettozufluss: {f} - {g} = {net} Liter pro Minute. Der Tank braucht {T} Liter, also dauert es {T} ÷ {net} = {n} Minuten. Ohne das Leck käme eine kürzere, falsche Zeit heraus. Probe: {n} × {net} = {T}.",
         "es": "El grifo y la fuga actúan a la vez, así que lo que cuenta es el caudal neto: {f} - {g} = {net} litros por minuto. Hacen falta {T} litros, de modo que el tiempo es {T} ÷ {net} = {n} minutos. Si ignorara la fuga obtendría un tiempo más corto y erróneo. Comprobación: {n} × {net} = {T}.",
         "it": "Il rubinetto e la perdita agiscono insieme, quindi conta il flusso netto: {f} - {g} = {net} litri al minuto. Servono {T} litri, quindi il tempo è {T} ÷ {net} = {n} minuti. Ignorando la perdita si otterrebbe un tempo più breve e sbagliato. Verifica: {n} × {net} = {T}.",
         "zh": "水龙头和漏洞同时起作用，所以要看净流量：每分钟 {f} - {g} = {net} 升。水箱需要 {T} 升，所以时间是 {T} ÷ {net} = {n} 分钟。如果忽略漏水，就会得到一个更短的错误时间。验算：{n} × {net} = {T}。"},
      f={"en": "It takes {n} minutes.", "fr": "Il faut {n} minutes.", "de": "Es dauert {n} Minuten.",
         "es": "Tarda {n} minutos.", "it": "Servono {n} minuti.", "zh": "需要 {n} 分钟。"})


def g_meet(r):
    t = r.randint(2, 4)
    v1, v2 = r.choice(range(50, 100, 10)), r.choice(range(40, 110, 10))
    return dict(t=t, v1=v1, v2=v2, vs=v1 + v2, D=(v1 + v2) * t, d1=v1 * t, d2=v2 * t, ans=t)


ptype("cars_meeting", "word_problem", "eval", g_meet,
      q={"en": ["Two cities are {D} km apart. Two cars leave at the same time, one from each city, driving towards each other at {v1} km/h and {v2} km/h. After how many hours do they meet?"],
         "fr": "Deux villes sont distantes de {D} km. Deux voitures partent en même temps, une de chaque ville, l'une vers l'autre, à {v1} km/h et {v2} km/h. Au bout de combien d'heures se croisent-elles ?",
         "de": "Zwei Städte liegen {D} km auseinander. Zwei Autos fahren gleichzeitig los, je eines aus jeder Stadt, aufeinander zu, mit {v1} km/h und {v2} km/h. Nach wie vielen Stunden treffen sie sich?",
         "es": "Dos ciudades están a {D} km de distancia. Dos coches salen a la vez, uno de cada ciudad, uno hacia el otro, a {v1} km/h y a {v2} km/h. ¿Cuántas horas tardan en cruzarse?",
         "it": "Due città distano {D} km. Due auto partono nello stesso momento, una da ciascuna città, andando una verso l'altra a {v1} km/h e a {v2} km/h. Dopo quante ore si incontrano?",
         "zh": "两座城市相距 {D} 千米。两辆车同时从两座城市出发相向而行，速度分别是每小时 {v1} 千米和每小时 {v2} 千米。几小时后两车相遇？"},
      a={"en": "Because the cars drive towards each other, the gap between them shrinks by both speeds at once: {v1} + {v2} = {vs} km every hour. The whole gap is {D} km, so they meet after {D} ÷ {vs} = {t} hours. Check: in {t} hours the cars cover {d1} km and {d2} km, and {d1} + {d2} = {D}.",
         "fr": "Comme les voitures roulent l'une vers l'autre, l'écart entre elles diminue des deux vitesses à la fois : {v1} + {v2} = {vs} km par heure. L'écart total est de {D} km, donc elles se croisent après {D} ÷ {vs} = {t} heures. Vérification : en {t} heures, elles parcourent {d1} km et {d2} km, et {d1} + {d2} = {D}.",
         "de": "Da die Autos aufeinander zufahren, schrumpft der Abstand um beide Geschwindigkeiten zugleich: {v1} + {v2} = {vs} km pro Stunde. Der gesamte Abstand beträgt {D} km, also treffen sie sich nach {D} ÷ {vs} = {t} Stunden. Probe: In {t} Stunden fahren sie {d1} km und {d2} km, und {d1} + {d2} = {D}.",
         "es": "Como los coches van uno hacia el otro, la distancia entre ellos se reduce con ambas velocidades a la vez: {v1} + {v2} = {vs} km cada hora. La distancia total es de {D} km, así que se cruzan al cabo de {D} ÷ {vs} = {t} horas. Comprobación: en {t} horas recorren {d1} km y {d2} km, y {d1} + {d2} = {D}.",
         "it": "Poiché le auto vanno una verso l'altra, la distanza tra loro si riduce di entrambe le velocità insieme: {v1} + {v2} = {vs} km ogni ora. La distanza totale è di {D} km, quindi si incontrano dopo {D} ÷ {vs} = {t} ore. Verifica: in {t} ore percorrono {d1} km e {d2} km, e {d1} + {d2} = {D}.",
         "zh": "两车相向而行，所以它们之间的距离每小时缩短两车速度之和：{v1} + {v2} = {vs} 千米。总距离是 {D} 千米，所以相遇时间是 {D} ÷ {vs} = {t} 小时。验算：{t} 小时内两车分别行驶 {d1} 千米和 {d2} 千米，{d1} + {d2} = {D}。"},
      f={"en": "They meet after {t} hours.", "fr": "Elles se croisent au bout de {t} heures.", "de": "Sie treffen sich nach {t} Stunden.",
         "es": "Se cruzan al cabo de {t} horas.", "it": "Si incontrano dopo {t} ore.", "zh": "两车在 {t} 小时后相遇。"})


def g_revdisc(r):
    d = r.choice([10, 20, 25, 40, 50])
    O = r.choice([o for o in range(20, 201, 10) if o * (100 - d) % 100 == 0])
    N = O * (100 - d) // 100
    return dict(d=d, O=O, N=N, rem=100 - d, disc=O - N, ans=O)


ptype("original_price_before_discount", "percent", "eval", g_revdisc,
      q={"en": ["After a {d}% discount, a shirt costs €{N}. What was the original price?"],
         "fr": "Après une remise de {d} %, une chemise coûte {N} €. Quel était son prix initial ?",
         "de": "Nach {d} % Rabatt kostet ein Hemd {N} €. Wie hoch war der ursprüngliche Preis?",
         "es": "Tras un descuento del {d} %, una camisa cuesta {N} €. ¿Cuál era el precio original?",
         "it": "Dopo uno sconto del {d}%, una camicia costa {N} €. Qual era il prezzo originale?",
         "zh": "降价 {d}% 后，一件衬衫售价 {N} 欧元。原价是多少欧元？"},
      a={"en": "The discounted price is what remains after removing {d}%, so €{N} is {rem}% of the original price. If {rem}% corresponds to €{N}, then 100% is {N} × 100 ÷ {rem} = €{O}. Check: {d}% of €{O} is €{disc}, and €{O} - €{disc} = €{N}. A common mistake is to add {d}% of €{N}, which gives the wrong amount.",
         "fr": "Le prix soldé est ce qui reste après avoir retiré {d} %, donc {N} € représentent {rem} % du prix initial. Si {rem} % correspondent à {N} €, alors 100 % correspondent à {N} × 100 ÷ {rem} = {O} €. Vérification : {d} % de {O} € font {disc} €, et {O} € - {disc} € = {N} €. Une erreur fréquente serait d'ajouter {d} % de {N} €, ce qui donne un mauvais résultat.",
         "de": "Der reduzierte Preis ist das, was nach Abzug von {d} % übrig bleibt, also sind {N} € genau {rem} % des ursprünglichen Preises. Wenn {rem} % {N} € entsprechen, dann sind 100 % gleich {N} × 100 ÷ {rem} = {O} €. Probe: {d} % von {O} € sind {disc} €, und {O} € - {disc} € = {N} €. Ein typischer Fehler wäre, einfach {d} % von {N} € aufzuschlagen, das ergibt einen falschen Betrag.",
         "es": "El precio rebajado es lo que queda tras quitar el {d} %, así que {N} € son el {rem} % del precio original. Si el {rem} % equivale a {N} €, el 100 % es {N} × 100 ÷ {rem} = {O} €. Comprobación: el {d} % de {O} € es {disc} €, y {O} € - {disc} € = {N} €. Un error habitual sería sumar el {d} % de {N} €, lo que da una cantidad incorrecta.",
         "it": "Il prezzo scontato è ciò che resta dopo aver tolto il {d}%, quindi {N} € sono il {rem}% del prezzo originale. Se il {rem}% corrisponde a {N} €, il 100% è {N} × 100 ÷ {rem} = {O} €. Verifica: il {d}% di {O} € è {disc} €, e {O} € - {disc} € = {N} €. Un errore comune sarebbe aggiungere il {d}% di {N} €, che dà un importo sbagliato.",
         "zh": "打折后的价格是去掉 {d}% 之后剩下的部分，所以 {N} 欧元相当于原价的 {rem}%。既然 {rem}% 对应 {N} 欧元，那么 100% 就是 {N} × 100 ÷ {rem} = {O} 欧元。验算：{O} 欧元的 {d}% 是 {disc} 欧元，{O} - {disc} = {N}。常见的错误是直接在 {N} 欧元上加 {d}%，那样结果不对。"},
      f={"en": "The original price was €{O}.", "fr": "Le prix initial était de {O} €.", "de": "Der ursprüngliche Preis betrug {O} €.",
         "es": "El precio original era de {O} €.", "it": "Il prezzo originale era di {O} €.", "zh": "原价是 {O} 欧元。"})


def g_interest(r):
    P = r.choice([100, 200, 300, 400, 500, 1000])
    rate, y = r.choice([2, 3, 4, 5]), r.randint(2, 5)
    iy = P * rate // 100
    return dict(P=P, r=rate, y=y, iy=iy, I=iy * y, ans=iy * y)


ptype("simple_interest", "percent", "eval", g_interest,
      q={"en": ["You put €{P} in a savings account with {r}% simple interest per year. How much interest do you earn after {y} years?"],
         "fr": "Vous placez {P} € sur un livret à {r} % d'intérêts simples par an. Combien d'intérêts touchez-vous au bout de {y} ans ?",
         "de": "Du legst {P} € zu {r} % einfachen Zinsen pro Jahr an. Wie viel Zinsen bekommst du nach {y} Jahren?",
         "es": "Ingresas {P} € en una cuenta con un interés simple del {r} % anual. ¿Cuántos intereses obtienes al cabo de {y} años?",
         "it": "Depositi {P} € su un conto con un interesse semplice del {r}% annuo. Quanti interessi ottieni dopo {y} anni?",
         "zh": "把 {P} 欧元存入银行，年利率为 {r}%，按单利计算。{y} 年后能得到多少利息？"},
      a={"en": "With simple interest, the interest is the same every year because it is always calculated on the original €{P}. One year gives {r}% of {P}, which is {P} × {r} ÷ 100 = €{iy}. Over {y} years that is {y} × €{iy} = €{I}. The balance would be €{P} + €{I}, but the question only asks for the interest.",
         "fr": "Avec des intérêts simples, les intérêts sont les mêmes chaque année, car ils sont toujours calculés sur les {P} € de départ. Une année rapporte {r} % de {P}, soit {P} × {r} ÷ 100 = {iy} €. Sur {y} ans, cela fait {y} × {iy} € = {I} €. Le solde serait de {P} € + {I} €, mais la question porte seulement sur les intérêts.",
         "de": "Bei einfachen Zinsen sind die Zinsen jedes Jahr gleich, weil sie immer auf die ursprünglichen {P} € berechnet werden. Ein Jahr bringt {r} % von {P}, also {P} × {r} ÷ 100 = {iy} €. In {y} Jahren sind das {y} × {iy} € = {I} €. Das Guthaben wäre {P} € + {I} €, aber gefragt sind nur die Zinsen.",
         "es": "Con interés simple, los intereses son iguales cada año, porque siempre se calculan sobre los {P} € iniciales. Un año da el {r} % de {P}, es decir, {P} × {r} ÷ 100 = {iy} €. En {y} años son {y} × {iy} € = {I} €. El saldo sería {P} € + {I} €, pero la pregunta solo pide los intereses.",
         "it": "Con l'interesse semplice, gli interessi sono uguali ogni anno, perché si calcolano sempre sui {P} € iniziali. Un anno rende il {r}% di {P}, cioè {P} × {r} ÷ 100 = {iy} €. In {y} anni sono {y} × {iy} € = {I} €. Il saldo sarebbe {P} € + {I} €, ma la domanda chiede solo gli interessi.",
         "zh": "单利的意思是每年的利息都按最初的 {P} 欧元计算，所以每年利息相同。一年的利息是 {P} 的 {r}%，即 {P} × {r} ÷ 100 = {iy} 欧元。{y} 年共计 {y} × {iy} = {I} 欧元。账户余额会是 {P} + {I} 欧元，但题目只问利息。"},
      f={"en": "You earn €{I} in interest.", "fr": "Vous touchez {I} € d'intérêts.", "de": "Du bekommst {I} € Zinsen.",
         "es": "Obtienes {I} € de intereses.", "it": "Ottieni {I} € di interessi.", "zh": "可得利息 {I} 欧元。"})


def g_pyth(r):
    a, b, c = r.choice([(3, 4, 5), (6, 8, 10), (5, 12, 13), (9, 12, 15), (8, 15, 17), (12, 16, 20), (7, 24, 25), (15, 20, 25)])
    if r.random() < 0.5:
        a, b = b, a
    return dict(a=a, b=b, c=c, a2=a * a, b2=b * b, c2=c * c, ans=c)


ptype("pythagoras_hypotenuse", "geometry", "eval", g_pyth,
      q={"en": ["A right triangle has legs of {a} cm and {b} cm. How long is the hypotenuse?"],
         "fr": "Un triangle rectangle a des côtés de l'angle droit de {a} cm et {b} cm. Quelle est la longueur de l'hypoténuse ?",
         "de": "Ein rechtwinkliges Dreieck hat Katheten von {a} cm und {b} cm. Wie lang ist die Hypotenuse?",
         "es": "Un triángulo rectángulo tiene catetos de {a} cm y {b} cm. ¿Cuánto mide la hipotenusa?",
         "it": "Un triangolo rettangolo ha i cateti di {a} cm e {b} cm. Quanto misura l'ipotenusa?",
         "zh": "一个直角三角形的两条直角边分别是 {a} 厘米和 {b} 厘米。斜边长多少厘米？"},
      a={"en": "By Pythagoras, the square of the hypotenuse equals the sum of the squares of the legs. So c² = {a}² + {b}² = {a2} + {b2} = {c2}. Now I need the square root of {c2}. Since {c} × {c} = {c2}, the hypotenuse is {c} cm. It is longer than each leg, which makes sense.",
         "fr": "D'après le théorème de Pythagore, le carré de l'hypoténuse est égal à la somme des carrés des deux autres côtés. Donc c² = {a}² + {b}² = {a2} + {b2} = {c2}. Il faut ensuite la racine carrée de {c2}. Comme {c} × {c} = {c2}, l'hypoténuse mesure {c} cm. Elle est plus longue que chacun des autres côtés, ce qui est logique.",
         "de": "Nach dem Satz des Pythagoras ist das Quadrat der Hypotenuse gleich der Summe der Quadrate der Katheten. Also c² = {a}² + {b}² = {a2} + {b2} = {c2}. Jetzt brauche ich die Wurzel aus {c2}. Da {c} × {c} = {c2} ist, ist die Hypotenuse {c} cm lang. Sie ist länger als jede Kathete, das ist plausibel.",
         "es": "Por el teorema de Pitágoras, el cuadrado de la hipotenusa es igual a la suma de los cuadrados de los catetos. Así, c² = {a}² + {b}² = {a2} + {b2} = {c2}. Ahora necesito la raíz cuadrada de {c2}. Como {c} × {c} = {c2}, la hipotenusa mide {c} cm. Es más larga que cada cateto, lo cual tiene sentido.",
         "it": "Per il teorema di Pitagora, il quadrato dell'ipotenusa è uguale alla somma dei quadrati dei cateti. Quindi c² = {a}² + {b}² = {a2} + {b2} = {c2}. Ora serve la radice quadrata di {c2}. Poiché {c} × {c} = {c2}, l'ipotenusa misura {c} cm. È più lunga di ciascun cateto, il che ha senso.",
         "zh": "根据勾股定理，斜边的平方等于两条直角边的平方和。所以 c² = {a}² + {b}² = {a2} + {b2} = {c2}。接下来求 {c2} 的平方根。因为 {c} × {c} = {c2}，所以斜边长 {c} 厘米。斜边比两条直角边都长，结果合理。"},
      f={"en": "The hypotenuse is {c} cm long.", "fr": "L'hypoténuse mesure {c} cm.", "de": "Die Hypotenuse ist {c} cm lang.",
         "es": "La hipotenusa mide {c} cm.", "it": "L'ipotenusa misura {c} cm.", "zh": "斜边长 {c} 厘米。"})


def g_tri(r):
    while True:
        b, h = r.randint(4, 16), r.randint(3, 12)
        if b * h % 2 == 0:
            break
    return dict(b=b, h=h, bh=b * h, A=b * h // 2, ans=b * h // 2)


ptype("triangle_area", "geometry", "eval", g_tri,
      q={"en": ["A triangle has a base of {b} cm and a height of {h} cm. What is its area?"],
         "fr": "Un triangle a une base de {b} cm et une hauteur de {h} cm. Quelle est son aire ?",
         "de": "Ein Dreieck hat eine Grundseite von {b} cm und eine Höhe von {h} cm. Wie groß ist sein Flächeninhalt?",
         "es": "Un triángulo tiene una base de {b} cm y una altura de {h} cm. ¿Cuál es su área?",
         "it": "Un triangolo ha base {b} cm e altezza {h} cm. Qual è la sua area?",
         "zh": "一个三角形的底是 {b} 厘米，高是 {h} 厘米。它的面积是多少平方厘米？"},
      a={"en": "A triangle is half of a rectangle with the same base and height. The rectangle would have an area of {b} × {h} = {bh} square centimetres. Half of that is {bh} ÷ 2 = {A}. So the area of the triangle is {A} square centimetres; forgetting to halve would give {bh}, which is twice too large.",
         "fr": "Un triangle est la moitié d'un rectangle de même base et de même hauteur. Ce rectangle aurait une aire de {b} × {h} = {bh} centimètres carrés. La moitié fait {bh} ÷ 2 = {A}. L'aire du triangle est donc de {A} centimètres carrés ; oublier de diviser par deux donnerait {bh}, deux fois trop.",
         "de": "Ein Dreieck ist die Hälfte eines Rechtecks mit derselben Grundseite und Höhe. Das Rechteck hätte den Flächeninhalt {b} × {h} = {bh} Quadratzentimeter. Die Hälfte davon ist {bh} ÷ 2 = {A}. Das Dreieck hat also {A} Quadratzentimeter; ohne Halbieren käme {bh} heraus, doppelt so viel.",
         "es": "Un triángulo es la mitad de un rectángulo con la misma base y la misma altura. Ese rectángulo tendría un área de {b} × {h} = {bh} centímetros cuadrados. La mitad es {bh} ÷ 2 = {A}. Así que el área del triángulo es de {A} centímetros cuadrados; si olvidara dividir entre dos, obtendría {bh}, el doble.",
         "it": "Un triangolo è la metà di un rettangolo con la stessa base e la stessa altezza. Quel rettangolo avrebbe un'area di {b} × {h} = {bh} centimetri quadrati. La metà è {bh} ÷ 2 = {A}. L'area del triangolo è quindi di {A} centimetri quadrati; dimenticando di dividere per due si otterrebbe {bh}, il doppio.",
         "zh": "三角形的面积是同底同高的长方形面积的一半。这个长方形的面积是 {b} × {h} = {bh} 平方厘米。它的一半是 {bh} ÷ 2 = {A}。所以三角形的面积是 {A} 平方厘米；如果忘了除以 2，就会得到 {bh}，多了一倍。"},
      f={"en": "The area is {A} square centimetres.", "fr": "Son aire est de {A} centimètres carrés.",
         "de": "Der Flächeninhalt beträgt {A} Quadratzentimeter.", "es": "Su área es de {A} centímetros cuadrados.",
         "it": "La sua area è di {A} centimetri quadrati.", "zh": "面积是 {A} 平方厘米。"})


def g_fib(r):
    while True:
        t = [r.randint(1, 5), r.randint(1, 6)]
        for _ in range(4):
            t.append(t[-1] + t[-2])
        diffs = {t[i + 1] - t[i] for i in range(5)}
        if len(diffs) > 1:
            break
    return dict(seq=", ".join(map(str, t)), t0=t[0], t1=t[1], t2=t[2], t3=t[3], t4=t[4],
                prev=t[4], last=t[5], ans=t[4] + t[5])


ptype("fibonacci_like_next", "sequence", "eval", g_fib,
      q={"en": ["Look at the list {seq}. Which number should be written after {last}?"],
         "fr": "Observe la liste {seq}. Quel nombre faut-il écrire après {last} ?",
         "de": "Sieh dir die Liste {seq} an. Welche Zahl muss nach {last} stehen?",
         "es": "Observa la lista {seq}. ¿Qué número debe ir después de {last}?",
         "it": "Osserva la lista {seq}. Quale numero va scritto dopo {last}?",
         "zh": "观察这列数：{seq}。{last} 后面应该写哪个数？"},
      a={"en": "The gaps are not constant and the terms are not multiplied by a fixed number, so I test sums. {t0} + {t1} = {t2}, {t1} + {t2} = {t3}, {t2} + {t3} = {t4}: each term is the sum of the two before it, as in the Fibonacci sequence. The next term is therefore {prev} + {last} = {ans}.",
         "fr": "Les écarts ne sont pas constants et on ne multiplie pas par un nombre fixe, donc je teste les sommes. {t0} + {t1} = {t2}, {t1} + {t2} = {t3}, {t2} + {t3} = {t4} : chaque terme est la somme des deux précédents, comme dans la suite de Fibonacci. Le terme suivant est donc {prev} + {last} = {ans}.",
         "de": "Die Abstände sind nicht konstant, und es wird auch nicht mit einer festen Zahl multipliziert, also teste ich Summen. {t0} + {t1} = {t2}, {t1} + {t2} = {t3}, {t2} + {t3} = {t4}: Jedes Glied ist die Summe der beiden vorherigen, wie bei der Fibonacci-Folge. Das nächste Glied ist also {prev} + {last} = {ans}.",
         "es": "Las diferencias no son constantes y tampoco se multiplica por un número fijo, así que pruebo con sumas. {t0} + {t1} = {t2}, {t1} + {t2} = {t3}, {t2} + {t3} = {t4}: cada término es la suma de los dos anteriores, como en la sucesión de Fibonacci. Por tanto, el siguiente es {prev} + {last} = {ans}.",
         "it": "Le differenze non sono costanti e non si moltiplica per un numero fisso, quindi provo con le somme. {t0} + {t1} = {t2}, {t1} + {t2} = {t3}, {t2} + {t3} = {t4}: ogni termine è la somma dei due precedenti, come nella successione di Fibonacci. Il termine successivo è quindi {prev} + {last} = {ans}.",
         "zh": "相邻两项的差不固定，也不是每次乘同一个数，所以我试着看加法关系。{t0} + {t1} = {t2}，{t1} + {t2} = {t3}，{t2} + {t3} = {t4}：每一项都是前两项之和，就像斐波那契数列一样。所以下一项是 {prev} + {last} = {ans}。"},
      f={"en": "After {last} comes {ans}.", "fr": "Après {last} vient {ans}.", "de": "Nach {last} kommt {ans}.",
         "es": "Después de {last} va {ans}.", "it": "Dopo {last} viene {ans}.", "zh": "{last} 后面是 {ans}。"})


def g_squares(r):
    k = r.randint(2, 9)
    t = [(k + i) ** 2 for i in range(5)]
    return dict(seq=", ".join(map(str, t[:4])), k=k, k1=k + 1, k2=k + 2, k3=k + 3, k4=k + 4,
                t0=t[0], t1=t[1], t2=t[2], t3=t[3], d1=t[1] - t[0], d2=t[2] - t[1], d3=t[3] - t[2],
                d4=t[4] - t[3], ans=t[4])


ptype("square_numbers_next", "sequence", "eval", g_squares,
      q={"en": ["Which number continues the pattern {seq}, ...?"],
         "fr": "Quel nombre prolonge la série {seq}, ... ?",
         "de": "Welche Zahl setzt das Muster {seq}, ... fort?",
         "es": "¿Qué número continúa el patrón {seq}, ...?",
         "it": "Quale numero continua lo schema {seq}, ...?",
         "zh": "按照规律，{seq} 之后应该是哪个数？"},
      a={"en": "The differences are {d1}, {d2} and {d3}: they grow by 2 each time, which suggests square numbers. Indeed {t0} = {k}², {t1} = {k1}², {t2} = {k2}² and {t3} = {k3}². The next term is therefore {k4}² = {k4} × {k4} = {ans}. The difference pattern agrees: {t3} + {d4} = {ans}.",
         "fr": "Les différences sont {d1}, {d2} et {d3} : elles augmentent de 2 à chaque fois, ce qui évoque les carrés. En effet, {t0} = {k}², {t1} = {k1}², {t2} = {k2}² et {t3} = {k3}². Le terme suivant est donc {k4}² = {k4} × {k4} = {ans}. Les différences le confirment : {t3} + {d4} = {ans}.",
         "de": "Die Differenzen sind {d1}, {d2} und {d3}: Sie wachsen jedes Mal um 2, was auf Quadratzahlen hindeutet. Tatsächlich ist {t0} = {k}², {t1} = {k1}², {t2} = {k2}² und {t3} = {k3}². Das nächste Glied ist also {k4}² = {k4} × {k4} = {ans}. Die Differenzen bestätigen das: {t3} + {d4} = {ans}.",
         "es": "Las diferencias son {d1}, {d2} y {d3}: aumentan de 2 en 2, lo que hace pensar en cuadrados. En efecto, {t0} = {k}², {t1} = {k1}², {t2} = {k2}² y {t3} = {k3}². El siguiente término es {k4}² = {k4} × {k4} = {ans}. Las diferencias lo confirman: {t3} + {d4} = {ans}.",
         "it": "Le differenze sono {d1}, {d2} e {d3}: crescono di 2 ogni volta, il che fa pensare ai quadrati. Infatti {t0} = {k}², {t1} = {k1}², {t2} = {k2}² e {t3} = {k3}². Il termine successivo è quindi {k4}² = {k4} × {k4} = {ans}. Le differenze lo confermano: {t3} + {d4} = {ans}.",
         "zh": "相邻两项的差是 {d1}、{d2}、{d3}，每次多 2，这让人想到平方数。确实，{t0} = {k}²，{t1} = {k1}²，{t2} = {k2}²，{t3} = {k3}²。所以下一项是 {k4}² = {k4} × {k4} = {ans}。用差来验证：{t3} + {d4} = {ans}，一致。"},
      f={"en": "The pattern continues with {ans}.", "fr": "La série continue avec {ans}.", "de": "Das Muster geht mit {ans} weiter.",
         "es": "El patrón continúa con {ans}.", "it": "Lo schema continua con {ans}.", "zh": "下一个数是 {ans}。"})


def g_temp(r):
    C = r.choice(list(range(0, 45, 5)) + [100])
    return dict(C=C, C9=9 * C, C95=9 * C // 5, F=9 * C // 5 + 32, ans=9 * C // 5 + 32)


ptype("celsius_to_fahrenheit", "units", "eval", g_temp,
      q={"en": ["Convert {C} °C to degrees Fahrenheit.", "The thermometer shows {C} °C. What is that in °F?"],
         "fr": "Convertis {C} °C en degrés Fahrenheit.",
         "de": "Rechne {C} °C in Grad Fahrenheit um.",
         "es": "Convierte {C} °C a grados Fahrenheit.",
         "it": "Converti {C} °C in gradi Fahrenheit.",
         "zh": "把 {C} °C 换算成华氏度。"},
      a={"en": "The conversion formula is F = C × 9/5 + 32. First {C} × 9 = {C9}, and dividing by 5 gives {C95}. Finally I add 32, because on the Fahrenheit scale water freezes at 32 degrees: {C95} + 32 = {F}. So {C} °C corresponds to {F} °F.",
         "fr": "La formule de conversion est F = C × 9/5 + 32. D'abord {C} × 9 = {C9}, puis en divisant par 5 on obtient {C95}. Enfin j'ajoute 32, car sur l'échelle Fahrenheit l'eau gèle à 32 degrés : {C95} + 32 = {F}. Donc {C} °C correspondent à {F} °F.",
         "de": "Die Umrechnungsformel lautet F = C × 9/5 + 32. Zuerst {C} × 9 = {C9}, geteilt durch 5 ergibt das {C95}. Zum Schluss addiere ich 32, weil Wasser auf der Fahrenheit-Skala bei 32 Grad gefriert: {C95} + 32 = {F}. Also entsprechen {C} °C genau {F} °F.",
         "es": "La fórmula de conversión es F = C × 9/5 + 32. Primero, {C} × 9 = {C9}, y al dividir entre 5 queda {C95}. Por último sumo 32, porque en la escala Fahrenheit el agua se congela a 32 grados: {C95} + 32 = {F}. Así que {C} °C equivalen a {F} °F.",
         "it": "La formula di conversione è F = C × 9/5 + 32. Prima {C} × 9 = {C9}, poi diviso 5 dà {C95}. Infine aggiungo 32, perché nella scala Fahrenheit l'acqua gela a 32 gradi: {C95} + 32 = {F}. Quindi {C} °C corrispondono a {F} °F.",
         "zh": "换算公式是 F = C × 9/5 + 32。先算 {C} × 9 = {C9}，再除以 5 得 {C95}。最后加上 32，因为在华氏温标中水的冰点是 32 度：{C95} + 32 = {F}。所以 {C} °C 等于 {F} °F。"},
      f={"en": "{C} °C is {F} °F.", "fr": "{C} °C font {F} °F.", "de": "{C} °C sind {F} °F.",
         "es": "{C} °C son {F} °F.", "it": "{C} °C sono {F} °F.", "zh": "{C} °C 等于 {F} °F。"})


def g_fuel(r):
    while True:
        c, d = r.randint(5, 9), r.choice(range(150, 801, 50))
        if c * d % 100 == 0:
            break
    return dict(c=c, d=d, blocks=num(d / 100), L=c * d // 100, ans=c * d // 100)


ptype("fuel_consumption", "units", "eval", g_fuel,
      q={"en": ["A car uses {c} litres of fuel per 100 km. How many litres does it need for a {d} km trip?"],
         "fr": "Une voiture consomme {c} litres aux 100 km. Combien de litres lui faut-il pour un trajet de {d} km ?",
         "de": "Ein Auto verbraucht {c} Liter auf 100 km. Wie viele Liter braucht es für eine Strecke von {d} km?",
         "es": "Un coche gasta {c} litros cada 100 km. ¿Cuántos litros necesita para un viaje de {d} km?",
         "it": "Un'auto consuma {c} litri ogni 100 km. Quanti litri servono per un viaggio di {d} km?",
         "zh": "一辆汽车每 100 千米耗油 {c} 升。行驶 {d} 千米需要多少升油？"},
      a={"en": "The consumption is given per 100 km, so I count how many blocks of 100 km the trip contains: {d} ÷ 100 = {blocks}. Each block uses {c} litres, so the trip needs {blocks} × {c} = {L} litres. Put differently, each kilometre uses {c}/100 of a litre, and {d} × {c} ÷ 100 = {L} as well.",
         "fr": "La consommation est donnée pour 100 km, donc je compte combien de tranches de 100 km contient le trajet : {d} ÷ 100 = {blocks}. Chaque tranche consomme {c} litres, donc le trajet demande {blocks} × {c} = {L} litres. Autrement dit, chaque kilomètre consomme {c}/100 de litre, et {d} × {c} ÷ 100 = {L} également.",
         "de": "Der Verbrauch ist pro 100 km angegeben, also zähle ich, wie viele 100-km-Abschnitte die Fahrt hat: {d} ÷ 100 = {blocks}. Jeder Abschnitt braucht {c} Liter, also braucht die Fahrt {blocks} × {c} = {L} Liter. Anders gesagt verbraucht jeder Kilometer {c}/100 Liter, und {d} × {c} ÷ 100 = {L} ebenfalls.",
         "es": "El consumo se da por cada 100 km, así que cuento cuántos tramos de 100 km tiene el viaje: {d} ÷ 100 = {blocks}. Cada tramo gasta {c} litros, de modo que el viaje necesita {blocks} × {c} = {L} litros. Dicho de otro modo, cada kilómetro gasta {c}/100 de litro, y {d} × {c} ÷ 100 = {L} también.",
         "it": "Il consumo è dato ogni 100 km, quindi conto quanti tratti da 100 km contiene il viaggio: {d} ÷ 100 = {blocks}. Ogni tratto consuma {c} litri, quindi il viaggio richiede {blocks} × {c} = {L} litri. In altre parole, ogni chilometro consuma {c}/100 di litro, e anche {d} × {c} ÷ 100 = {L}.",
         "zh": "油耗是按每 100 千米给出的，所以先算行程里有几个 100 千米：{d} ÷ 100 = {blocks}。每 100 千米耗油 {c} 升，所以全程需要 {blocks} × {c} = {L} 升。换个角度，每千米耗油 {c}/100 升，{d} × {c} ÷ 100 同样等于 {L}。"},
      f={"en": "It needs {L} litres of fuel.", "fr": "Il lui faut {L} litres.", "de": "Es braucht {L} Liter.",
         "es": "Necesita {L} litros.", "it": "Servono {L} litri.", "zh": "需要 {L} 升油。"})


def g_mult2(r):
    d = r.randint(6, 19)
    klo, khi = -(-10 // d), 99 // d
    return dict(d=d, klo=klo, khi=khi, lo=d * klo, hi=d * khi, ans=khi - klo + 1)


ptype("two_digit_multiples", "logic", "eval", g_mult2,
      q={"en": ["How many two-digit numbers are divisible by {d}?"],
         "fr": "Combien de nombres à deux chiffres sont divisibles par {d} ?",
         "de": "Wie viele zweistellige Zahlen sind durch {d} teilbar?",
         "es": "¿Cuántos números de dos cifras son divisibles entre {d}?",
         "it": "Quanti numeri di due cifre sono divisibili per {d}?",
         "zh": "有多少个两位数能被 {d} 整除？"},
      a={"en": "Two-digit numbers run from 10 to 99. The smallest multiple of {d} in that range is {lo} = {d} × {klo}, and the largest is {hi} = {d} × {khi}. So the multiples go from {d} × {klo} up to {d} × {khi}, and their count is {khi} - {klo} + 1 = {ans}. I add 1 because both ends are included.",
         "fr": "Les nombres à deux chiffres vont de 10 à 99. Le plus petit multiple de {d} dans cet intervalle est {lo} = {d} × {klo}, et le plus grand est {hi} = {d} × {khi}. Les multiples vont donc de {d} × {klo} à {d} × {khi}, et il y en a {khi} - {klo} + 1 = {ans}. J'ajoute 1 parce que les deux extrémités sont comprises.",
         "de": "Zweistellige Zahlen reichen von 10 bis 99. Das kleinste Vielfache von {d} in diesem Bereich ist {lo} = {d} × {klo}, das größte ist {hi} = {d} × {khi}. Die Vielfachen reichen also von {d} × {klo} bis {d} × {khi}, das sind {khi} - {klo} + 1 = {ans} Stück. Ich addiere 1, weil beide Enden mitzählen.",
         "es": "Los números de dos cifras van del 10 al 99. El menor múltiplo de {d} en ese intervalo es {lo} = {d} × {klo}, y el mayor es {hi} = {d} × {khi}. Los múltiplos van de {d} × {klo} a {d} × {khi}, y hay {khi} - {klo} + 1 = {ans}. Sumo 1 porque se incluyen los dos extremos.",
         "it": "I numeri di due cifre vanno da 10 a 99. Il più piccolo multiplo di {d} in questo intervallo è {lo} = {d} × {klo}, il più grande è {hi} = {d} × {khi}. I multipli vanno quindi da {d} × {klo} a {d} × {khi}, e sono {khi} - {klo} + 1 = {ans}. Aggiungo 1 perché entrambi gli estremi sono inclusi.",
         "zh": "两位数是从 10 到 99。这个范围内 {d} 的最小倍数是 {lo} = {d} × {klo}，最大倍数是 {hi} = {d} × {khi}。所以这些倍数从 {d} × {klo} 到 {d} × {khi}，共有 {khi} - {klo} + 1 = {ans} 个。要加 1，是因为两端都包括在内。"},
      f={"en": "There are {ans} such numbers.", "fr": "Il y en a {ans}.", "de": "Es gibt {ans} solche Zahlen.",
         "es": "Hay {ans}.", "it": "Sono {ans}.", "zh": "共有 {ans} 个。"})

COLOURS = {
    "en": ["red", "blue", "green", "black", "white"],
    "fr": ["rouges", "bleues", "vertes", "noires", "blanches"],
    "de": ["rote", "blaue", "grüne", "schwarze", "weiße"],
    "es": ["rojos", "azules", "verdes", "negros", "blancos"],
    "it": ["rossi", "blu", "verdi", "neri", "bianchi"],
    "zh": ["红", "蓝", "绿", "黑", "白"],
}


def _socks(lang, cols, counts):
    names = [COLOURS[lang][i] for i in cols]
    if lang == "zh":
        parts = [f"{n} 只{c}袜子" for n, c in zip(counts, names)]
        return "、".join(parts[:-1]) + "和" + parts[-1]
    parts = [f"{n} {c}" for n, c in zip(counts, names)]
    if lang == "fr":
        parts[0] = f"{counts[0]} chaussettes {names[0]}"
    elif lang == "es":
        parts[0] = f"{counts[0]} calcetines {names[0]}"
    elif lang == "it":
        parts[0] = f"{counts[0]} calzini {names[0]}"
    conj = {"en": " and ", "fr": " et ", "de": " und ", "es": " y ", "it": " e "}[lang]
    s = ", ".join(parts[:-1]) + conj + parts[-1]
    if lang == "en":
        s += " socks"
    elif lang == "de":
        s += " Socken"
    return s


def g_socks(r):
    k = r.randint(2, 5)
    cols = r.sample(range(5), k)
    counts = [r.randint(2, 9) for _ in range(k)]
    return dict(k=k, socks=PerLang({lg: _socks(lg, cols, counts) for lg in ALL_LANGS}), ans=k + 1)


ptype("socks_pigeonhole", "logic", "eval", g_socks,
      q={"en": ["A drawer contains {socks}. In the dark, how many socks must you take out to be sure of getting two of the same colour?"],
         "fr": "Un tiroir contient {socks}. Dans le noir, combien de chaussettes faut-il prendre pour être sûr d'en avoir deux de la même couleur ?",
         "de": "In einer Schublade liegen {socks}. Wie viele Socken musst du im Dunkeln herausnehmen, um sicher zwei gleichfarbige zu haben?",
         "es": "En un cajón hay {socks}. A oscuras, ¿cuántos calcetines tienes que sacar para estar seguro de tener dos del mismo color?",
         "it": "In un cassetto ci sono {socks}. Al buio, quanti calzini devi prendere per essere sicuro di averne due dello stesso colore?",
         "zh": "抽屉里有 {socks}。在黑暗中，至少要拿出几只袜子才能保证有两只颜色相同？"},
      a={"en": "There are {k} colours, and the worst case is that each sock I draw has a new colour. With {k} socks I could still have one of each colour and no pair. The next sock, number {ans}, must repeat one of the {k} colours, by the pigeonhole principle. The exact number of socks of each colour does not matter here, only the number of colours.",
         "fr": "Il y a {k} couleurs, et le pire des cas est que chaque chaussette tirée soit d'une nouvelle couleur. Avec {k} chaussettes, je pourrais encore en avoir une de chaque couleur, sans paire. La suivante, la numéro {ans}, doit forcément reprendre une des {k} couleurs : c'est le principe des tiroirs. Le nombre exact de chaussettes par couleur n'a pas d'importance ici, seul le nombre de couleurs compte.",
         "de": "Es gibt {k} Farben, und im ungünstigsten Fall hat jede gezogene Socke eine neue Farbe. Mit {k} Socken könnte ich noch von jeder Farbe genau eine haben, also kein Paar. Die nächste Socke, die Nummer {ans}, muss nach dem Schubfachprinzip eine der {k} Farben wiederholen. Die genaue Anzahl der Socken pro Farbe spielt keine Rolle, nur die Zahl der Farben.",
         "es": "Hay {k} colores, y el peor caso es que cada calcetín que saco sea de un color nuevo. Con {k} calcetines aún podría tener uno de cada color y ninguna pareja. El siguiente, el número {ans}, tiene que repetir alguno de los {k} colores, por el principio del palomar. El número exacto de calcetines de cada color no importa, solo cuenta el número de colores.",
         "it": "Ci sono {k} colori, e il caso peggiore è che ogni calzino estratto sia di un colore nuovo. Con {k} calzini potrei ancora averne uno per colore e nessuna coppia. Il successivo, il numero {ans}, deve ripetere uno dei {k} colori, per il principio dei cassetti. Il numero esatto di calzini per colore non conta, conta solo il numero di colori.",
         "zh": "一共有 {k} 种颜色，最坏的情况是每拿一只都是新的颜色。拿 {k} 只时，仍可能每种颜色各一只，没有成对的。再拿一只，也就是第 {ans} 只，根据抽屉原理一定会与前面某只同色。每种颜色具体有多少只并不重要，只和颜色的种数有关。"},
      f={"en": "You need to take {ans} socks.", "fr": "Il faut prendre {ans} chaussettes.", "de": "Man muss {ans} Socken herausnehmen.",
         "es": "Hay que sacar {ans} calcetines.", "it": "Bisogna prendere {ans} calzini.", "zh": "至少要拿 {ans} 只。"})


# =====================================================================
# Building, checking and writing
# =====================================================================

N_TRAIN = 200
N_EVAL = 72
# user (question) languages: about half English, the rest spread over the other languages
TRAIN_USER_LANGS = ["en"] * 100 + ["fr"] * 25 + ["de"] * 25 + ["es"] * 25 + ["it"] * 25
EVAL_USER_LANGS = ["en"] * 40 + ["fr"] * 6 + ["de"] * 6 + ["es"] * 6 + ["it"] * 6 + ["zh"] * 8
TRAIN_REASONING = TRAIN_LANGS                 # 40 rows each
EVAL_REASONING = ["en", "fr", "de", "es", "it", "zh"]  # 12 rows each; Chinese is never trained

NUM_RE = r"\d+(?:[.,]\d+)?"
EXPR_RE = rf"{NUM_RE}(?:\s*[-+×÷]\s*{NUM_RE})*"
CHAIN_RE = re.compile(rf"{EXPR_RE}(?:\s*=\s*-?{EXPR_RE})+")


def render(template: str, p: dict, lang: str) -> str:
    vals = {k: (v[lang] if isinstance(v, PerLang) else v) for k, v in p.items()}
    out = template.format(**vals)
    assert "{" not in out and "}" not in out, out
    return out


def norm(text: str) -> str:
    return " ".join(text.lower().split())


def check_arithmetic(text: str) -> int:
    """Re-evaluate every plain numeric chain 'a op b ... = c = ...' in a text; return how many were checked."""
    from fractions import Fraction
    clean = text.replace("€", " ").replace("°", " ").replace("%", " ")
    # drop a unit written right after a number ("12 m × 5 m = 60") so the chain stays visible
    clean = re.sub(r"(\d) (?:km|cm|ml|m/s|m|g)(?=[\s.,;:)]|$)", r"\1", clean)
    checked = 0
    for m in CHAIN_RE.finditer(clean):
        prev_raw = clean[m.start() - 1] if m.start() else " "
        if prev_raw.isalnum() or prev_raw in "²_.,(/":
            continue  # glued to a variable, a decimal or a fraction: part of something larger
        before = clean[:m.start()].rstrip()
        if before and before[-1] in "-+×÷(/":
            continue  # negative number or the tail of a longer expression
        next_raw = clean[m.end()] if m.end() < len(clean) else " "
        after = clean[m.end():].lstrip()
        if next_raw.isalnum() or next_raw in "²" or (after and after[0] in "-+×÷)(/²"):
            continue
        values = []
        for part in m.group(0).split("="):
            part = part.strip()
            expr = re.sub(NUM_RE, lambda t: f"Fraction('{t.group(0).replace(',', '.')}')", part)
            expr = expr.replace("×", "*").replace("÷", "/")
            values.append(eval(expr, {"Fraction": Fraction, "__builtins__": {}}))  # noqa: S307 (own digits only)
        if len(set(values)) != 1:
            raise AssertionError(f"wrong arithmetic {m.group(0)!r} in: {text}")
        checked += 1
    return checked


def final_numbers(text: str) -> list[str]:
    return re.findall(r"-?\d+(?:[.,]\d+)?", text)


def make_row(t: dict, p: dict, rl: str, ul: str, rng: random.Random, row_id: str) -> dict:
    user = render(rng.choice(t["q"][ul]), p, ul)
    analysis = render(t["a"][rl], p, rl)
    final = render(t["f"][ul], p, ul)
    # As on the hub: the instruction lives in the system message of `messages`; `developer` is only the persona.
    developer = rng.choice(DEV_EXTRAS) if rng.random() < 0.55 else ""
    system = f"reasoning language: {LANG_NAME[rl]}" + (f"\n\n{developer}" if developer else "")
    answer = str(p["ans"])
    return {
        "id": row_id,
        "reasoning_language": LANG_NAME[rl],
        "developer": developer,
        "user": user,
        "user_language": ul,
        "analysis": analysis,
        "final": final,
        "answer": answer,
        "category": t["category"],
        "messages": [
            {"role": "system", "content": system, "thinking": None},
            {"role": "user", "content": user, "thinking": None},
            {"role": "assistant", "content": final, "thinking": analysis},
        ],
        "_type": t["key"],
    }


def build_split(split, n_rows, reasoning_cycle, user_langs, rng, prefix, seen_questions):
    types = [t for t in TYPES if t["split"] == split]
    rng.shuffle(types)
    base, extra = divmod(n_rows, len(types))
    counts = {t["key"]: base + (1 if i < extra else 0) for i, t in enumerate(types)}
    slots = []
    for j in range(max(counts.values())):
        this_round = [t for t in types if counts[t["key"]] > j]
        rng.shuffle(this_round)
        slots.extend(this_round)
    uls = list(user_langs)
    assert len(uls) == n_rows == len(slots)
    rng.shuffle(uls)
    rows = []
    for i, (t, ul) in enumerate(zip(slots, uls)):
        rl = reasoning_cycle[i % len(reasoning_cycle)]
        for _attempt in range(500):
            p = t["gen"](rng)
            row = make_row(t, p, rl, ul, rng, f"{prefix}-{i + 1:04d}")
            key = norm(row["user"])
            if key not in seen_questions:
                seen_questions.add(key)
                break
        else:
            raise RuntimeError(f"could not draw a fresh question for {t['key']}")
        rows.append(row)
    return rows


def validate(rows: list[dict], split: str) -> int:
    n_checked = 0
    for row in rows:
        for k in ["id", "reasoning_language", "user", "user_language", "analysis", "final", "answer", "category"]:
            assert isinstance(row[k], str) and row[k].strip(), (k, row)
        assert isinstance(row["developer"], str) and "reasoning language" not in row["developer"]
        assert row["category"] in CATEGORIES
        assert row["user_language"] in ALL_LANGS
        blob = json.dumps(row, ensure_ascii=False)
        for marker in FORBIDDEN:
            assert marker not in blob, (marker, row["id"])
        msgs = row["messages"]
        assert [m["role"] for m in msgs] == ["system", "user", "assistant"]
        system = f"reasoning language: {row['reasoning_language']}"
        assert msgs[0]["content"] == (f"{system}\n\n{row['developer']}" if row["developer"] else system)
        assert msgs[1]["content"] == row["user"]
        assert msgs[2]["content"] == row["final"] and msgs[2]["thinking"] == row["analysis"]
        assert msgs[0]["thinking"] is None and msgs[1]["thinking"] is None
        # length of the chain of thought
        if row["reasoning_language"] == "Chinese":
            assert 60 <= len(row["analysis"]) <= 260, (row["id"], len(row["analysis"]))
        else:
            n_words = len(row["analysis"].split())
            assert 40 <= n_words <= 120, (row["id"], n_words, row["analysis"])
        # the final answer states the ground truth, and the answer value is the last number in it
        gold = [v.strip() for v in row["answer"].split(",")]
        nums = [v.replace(",", ".") for v in final_numbers(row["final"])]
        for v in gold:
            assert v in nums, (row["id"], row["final"], row["answer"])
        assert nums[-1] == gold[-1], (row["id"], row["final"], row["answer"])
        # every numeric chain in the analysis evaluates correctly
        n_checked += check_arithmetic(row["analysis"])
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    return n_checked


def table(rows_by_split: dict, field: str, order: list) -> str:
    lines = ["| " + field + " | " + " | ".join(rows_by_split) + " |",
             "|---|" + "---:|" * len(rows_by_split)]
    for v in order:
        cells = [str(sum(1 for r in rows if r[field] == v)) for rows in rows_by_split.values()]
        if any(c != "0" for c in cells):
            lines.append(f"| {v} | " + " | ".join(cells) + " |")
    lines.append("| **total** | " + " | ".join(str(len(r)) for r in rows_by_split.values()) + " |")
    return "\n".join(lines)


def write_readme(train, evl):
    splits = {"train": train, "eval": evl}
    n_train_types = len({r["_type"] for r in train})
    n_eval_types = len({r["_type"] for r in evl})
    non_en = {k: sum(r["user_language"] != "en" for r in v) for k, v in splits.items()}
    text = f"""# Multilingual Thinking (mini): bundled offline dataset

A small dataset in the format of
[HuggingFaceH4/Multilingual-Thinking](https://huggingface.co/datasets/HuggingFaceH4/Multilingual-Thinking),
bundled with this repository so that the tutorial can fine-tune gpt-oss-20b to **reason in a requested
language** without downloading anything. Each row asks a short maths or logic question; the
system message of `messages` says which language the chain of thought must be written in
(`reasoning language: French`, sometimes followed by a short persona, as on the hub); the assistant
thinks in that language and answers in the language of the user's question.

- `train.jsonl`: {len(train)} rows, reasoning in English, French, German, Spanish and Italian.
- `eval.jsonl`: {len(evl)} held-out rows: the same five languages **plus Chinese, which never appears in
  training**, so you can see whether the new "reasoning language" instruction generalises to an
  unseen language.
- `make_data.py`: the deterministic generator that wrote both files and this card
  (`python data/multilingual_thinking/make_data.py`).

## How it was made

Every problem type was written by hand for this project: the question in several user
languages (one or two phrasings each), a short chain of thought in each reasoning language, and
a one-sentence final answer in each user language. The generator draws the numbers from a seeded
random generator and computes every result in code; it then re-evaluates every arithmetic
chain in each analysis (`a × b = c`-style), checks that the final answer contains the ground truth, and
checks the schema. The train split uses {n_train_types} problem types and the eval split
{n_eval_types} *other* problem types: no eval problem is a renumbered or reworded train problem,
and no question text (lowercased, whitespace collapsed) appears in both files.

Categories: arithmetic, algebra (linear equations, small quadratics), word problems (shopping,
travel, ages, savings, recipes, ...), percentages, geometry, sequences, unit conversions and
counting/logic puzzles. The numbers are kept small so that a small model can imitate the
working.

## Schema

One JSON object per line (UTF-8).

| field | type | meaning |
|---|---|---|
| `id` | string | unique across both files (`train-0001`, `eval-0001`, ...) |
| `reasoning_language` | string | English name of the language the chain of thought is written in |
| `developer` | string | the persona only, as on the hub: one short instruction in English, or empty; the `reasoning language: <Language>` line is in `messages` |
| `user` | string | the question |
| `user_language` | string | ISO 639-1 code of the question's language (`en`, `fr`, `de`, `es`, `it`, `zh`), independent of the reasoning language |
| `analysis` | string | the chain of thought, written in `reasoning_language` (2 to 6 sentences) |
| `final` | string | the answer shown to the user, written in the user's language; the answer value is its last number |
| `answer` | string | checkable ground truth for math-verify: a number (`42`), or a comma list for several solutions (`-3, 2`) |
| `category` | string | one of `arithmetic`, `algebra`, `word_problem`, `logic`, `percent`, `geometry`, `sequence`, `units` |
| `messages` | list | `[{{"role": "system", "content": "reasoning language: <Language>" + ("\\n\\n" + developer if developer), "thinking": null}}, {{"role": "user", "content": user, "thinking": null}}, {{"role": "assistant", "content": final, "thinking": analysis}}]`, as in HuggingFaceH4/Multilingual-Thinking |

## Counts

Reasoning language:

{table(splits, "reasoning_language", [LANG_NAME[l] for l in ALL_LANGS])}

User (question) language; not English in {non_en['train']} train rows and {non_en['eval']} eval rows:

{table(splits, "user_language", ALL_LANGS)}

Category:

{table(splits, "category", CATEGORIES)}

## How it differs from HuggingFaceH4/Multilingual-Thinking

- **Size and content.** The Hugging Face dataset has 1,000 training rows sampled from the
  SystemChat subset of SmolTalk2 (general chat), with chains of thought translated from English
  by a language model. This one is small ({len(train)} + {len(evl)} rows), hand-written, and limited to
  short maths/logic problems whose answers can be checked automatically, so the chains of thought are short
  (a few sentences) to keep CPU training cheap.
- **Extra fields.** `id`, `user_language`, `answer` and `category` are added, and the answers are checkable
  with math-verify; the original has no ground truth.
- **Held-out split.** There is an `eval` split built from different problems, with Chinese as an
  untrained reasoning language; the original has a single `train` split.
- **Languages of the question and the answer.** Questions are asked in English and in French, German,
  Spanish, Italian (and Chinese in eval), independently of the reasoning language, and the final
  answer is always in the language of the question.

## Licence

Written for this project; released under the repository's Apache-2.0 licence.
"""
    (HERE / "README.md").write_text(text, encoding="utf-8")


def main() -> int:
    rng = random.Random(SEED)
    seen: set[str] = set()
    train = build_split("train", N_TRAIN, TRAIN_REASONING, TRAIN_USER_LANGS, rng, "train", seen)
    train_q = {norm(r["user"]) for r in train}
    evl = build_split("eval", N_EVAL, EVAL_REASONING, EVAL_USER_LANGS, rng, "eval", seen)
    assert not train_q & {norm(r["user"]) for r in evl}
    assert not {r["_type"] for r in train} & {r["_type"] for r in evl}
    n_checked = validate(train, "train") + validate(evl, "eval")
    assert len({t["key"] for t in TYPES}) == len(TYPES)

    for name, rows in [("train.jsonl", train), ("eval.jsonl", evl)]:
        with open(HERE / name, "w", encoding="utf-8", newline="\n") as fh:
            for row in rows:
                clean = {k: v for k, v in row.items() if not k.startswith("_")}
                fh.write(json.dumps(clean, ensure_ascii=False) + "\n")
        with open(HERE / name, encoding="utf-8") as fh:  # every line parses back
            assert sum(1 for line in fh if json.loads(line)) == len(rows)
    write_readme(train, evl)

    print(f"problem types: {len(TYPES)} ({sum(t['split'] == 'train' for t in TYPES)} train, "
          f"{sum(t['split'] == 'eval' for t in TYPES)} eval); arithmetic chains re-checked: {n_checked}")
    for split, rows in [("train", train), ("eval", evl)]:
        print(f"\n== {split}: {len(rows)} rows")
        for field in ["reasoning_language", "user_language", "category"]:
            print(f"  {field}: " + ", ".join(f"{k}={v}" for k, v in sorted(Counter(r[field] for r in rows).items())))
        words = [len(r["analysis"].split()) for r in rows if r["reasoning_language"] != "Chinese"]
        print(f"  analysis words (non-Chinese): min={min(words)} mean={sum(words) / len(words):.0f} max={max(words)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
