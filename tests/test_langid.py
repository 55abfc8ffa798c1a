"""Language identification: fixed reasoning paragraphs and short final answers in each tutorial language."""
from __future__ import annotations

import threading

import pytest

from gpt_oss_tutorial import langid
from gpt_oss_tutorial.langid import LANGUAGE_CODES, clean_text, detect_language, language_code

# Natural reasoning paragraphs (30-80 words), the way a model thinks through a small maths problem.
PARAGRAPHS: dict[str, list[str]] = {
    "en": [
        "We need to find how much Maria spent in total. She bought three notebooks at 4 euros each, so that is 12 "
        "euros, and a backpack that costs 47 euros. Adding them gives 59 euros. Let me double-check the "
        "multiplication: three times four is twelve, and twelve plus forty-seven is fifty-nine. So the total is 59.",
        "The user asks for the number of positive divisors of 36. First factor it: 36 = 2^2 * 3^2. The number of "
        "divisors is the product of the exponents plus one, so (2+1)(2+1) = 9. Let me list them to be sure: 1, 2, "
        "3, 4, 6, 9, 12, 18, 36. That is nine divisors, which matches.",
        "Hmm, the train leaves at 9:15 and arrives at 11:40, so the trip lasts two hours and twenty-five minutes. "
        "The distance is 170 km. Convert the time to hours: 2 + 25/60 ≈ 2.4167. Then the average speed is about "
        "70.3 km/h. The question wants a whole number, so we should round to 70.",
        "We solve the quadratic $x^2 - 5x + 6 = 0$. It factors nicely as $(x-2)(x-3)=0$, so the roots are 2 and 3. "
        "Check: plugging in x = 2 gives 4 - 10 + 6 = 0, and x = 3 gives 9 - 15 + 6 = 0. Both work, so the answer "
        "lists both solutions.",
    ],
    "fr": [
        "On cherche le prix total payé par Marie. Elle achète trois cahiers à 4 euros chacun, ce qui fait 12 euros, "
        "puis un sac à dos à 47 euros. En additionnant, on obtient 59 euros. Vérifions encore une fois : trois fois "
        "quatre font douze, et douze plus quarante-sept donnent bien cinquante-neuf.",
        "L'utilisateur demande combien de diviseurs positifs possède 36. Décomposons d'abord : 36 = 2^2 × 3^2. Le "
        "nombre de diviseurs est le produit des exposants augmentés de un, donc (2+1)(2+1) = 9. Pour être sûr, je "
        "les énumère : 1, 2, 3, 4, 6, 9, 12, 18 et 36. Il y en a bien neuf.",
        "Le train part à 9 h 15 et arrive à 11 h 40, donc le trajet dure deux heures et vingt-cinq minutes. La "
        "distance est de 170 km. Il faut convertir la durée en heures, soit environ 2,42 heures. La vitesse moyenne "
        "vaut alors à peu près 70 km/h, ce qui semble raisonnable pour un train régional.",
        "Résolvons l'équation $x^2 - 5x + 6 = 0$. Elle se factorise facilement en $(x-2)(x-3)=0$, donc les racines "
        "sont 2 et 3. Vérification : pour x = 2 on trouve 4 - 10 + 6 = 0, et pour x = 3 on trouve 9 - 15 + 6 = 0. "
        "Les deux solutions conviennent.",
    ],
    "de": [
        "Wir suchen den Gesamtpreis, den Maria bezahlt hat. Sie kauft drei Hefte zu je 4 Euro, das sind 12 Euro, und "
        "dazu einen Rucksack für 47 Euro. Zusammen ergibt das 59 Euro. Ich prüfe die Rechnung noch einmal: drei mal "
        "vier ist zwölf, und zwölf plus siebenundvierzig ergibt neunundfünfzig.",
        "Der Nutzer möchte wissen, wie viele positive Teiler die Zahl 36 hat. Zuerst zerlegen wir sie in "
        "Primfaktoren: 36 = 2^2 · 3^2. Die Anzahl der Teiler ist das Produkt der um eins erhöhten Exponenten, also "
        "(2+1)(2+1) = 9. Zur Kontrolle zähle ich sie auf: 1, 2, 3, 4, 6, 9, 12, 18, 36. Das passt.",
        "Der Zug fährt um 9:15 Uhr ab und kommt um 11:40 Uhr an, die Fahrt dauert also zwei Stunden und "
        "fünfundzwanzig Minuten. Die Strecke beträgt 170 km. Umgerechnet sind das ungefähr 2,42 Stunden, also liegt "
        "die Durchschnittsgeschwindigkeit bei etwa 70 km/h. Das klingt für einen Regionalzug plausibel.",
        "Wir lösen die Gleichung $x^2 - 5x + 6 = 0$. Sie lässt sich als $(x-2)(x-3)=0$ faktorisieren, also sind die "
        "Lösungen 2 und 3. Probe: Für x = 2 erhält man 4 - 10 + 6 = 0, und für x = 3 erhält man 9 - 15 + 6 = 0. "
        "Beide Werte erfüllen die Gleichung.",
    ],
    "es": [
        "Tenemos que calcular cuánto gastó María en total. Compró tres cuadernos a 4 euros cada uno, lo que suma 12 "
        "euros, y además una mochila que cuesta 47 euros. Al sumar todo obtenemos 59 euros. Lo compruebo otra vez: "
        "tres por cuatro son doce, y doce más cuarenta y siete son cincuenta y nueve.",
        "El usuario pregunta cuántos divisores positivos tiene el número 36. Primero lo descomponemos: 36 = 2^2 · "
        "3^2. La cantidad de divisores es el producto de los exponentes aumentados en uno, es decir (2+1)(2+1) = 9. "
        "Para asegurarme, los enumero: 1, 2, 3, 4, 6, 9, 12, 18 y 36. Efectivamente son nueve.",
        "El tren sale a las 9:15 y llega a las 11:40, así que el viaje dura dos horas y veinticinco minutos. La "
        "distancia es de 170 km. Si pasamos el tiempo a horas, son aproximadamente 2,42 horas, por lo que la "
        "velocidad media ronda los 70 km/h. Parece un resultado razonable para un tren regional.",
        "Resolvemos la ecuación $x^2 - 5x + 6 = 0$. Se puede factorizar como $(x-2)(x-3)=0$, así que las raíces son "
        "2 y 3. Comprobación: con x = 2 queda 4 - 10 + 6 = 0, y con x = 3 queda 9 - 15 + 6 = 0. Ambas soluciones "
        "son válidas.",
    ],
    "it": [
        "Dobbiamo calcolare quanto ha speso Maria in totale. Ha comprato tre quaderni a 4 euro ciascuno, quindi 12 "
        "euro, e poi uno zaino che costa 47 euro. Sommando otteniamo 59 euro. Ricontrollo il calcolo: tre per "
        "quattro fa dodici, e dodici più quarantasette fa cinquantanove. Il totale è quindi corretto.",
        "L'utente chiede quanti divisori positivi ha il numero 36. Prima lo scomponiamo in fattori primi: 36 = 2^2 · "
        "3^2. Il numero dei divisori è il prodotto degli esponenti aumentati di uno, cioè (2+1)(2+1) = 9. Per "
        "sicurezza li elenco: 1, 2, 3, 4, 6, 9, 12, 18 e 36. Sono proprio nove.",
        "Il treno parte alle 9:15 e arriva alle 11:40, quindi il viaggio dura due ore e venticinque minuti. La "
        "distanza è di 170 km. Convertendo il tempo in ore si ottengono circa 2,42 ore, perciò la velocità media è "
        "di circa 70 km/h. Mi sembra un risultato ragionevole per un treno regionale.",
        "Risolviamo l'equazione $x^2 - 5x + 6 = 0$. Si può scomporre come $(x-2)(x-3)=0$, quindi le radici sono 2 e "
        "3. Verifica: per x = 2 si ottiene 4 - 10 + 6 = 0, e per x = 3 si ottiene 9 - 15 + 6 = 0. Entrambe le "
        "soluzioni vanno bene.",
    ],
    "zh": [
        "我们需要计算玛丽一共花了多少钱。她买了三本笔记本，每本 4 欧元，一共 12 欧元，另外还买了一个 47 欧元的背包。"
        "把它们加起来得到 59 欧元。再检查一下：三乘四等于十二，十二加四十七等于五十九，所以总价是对的。",
        "用户问 36 有多少个正因数。先做质因数分解：36 = 2^2 × 3^2。因数的个数等于各指数加一后的乘积，也就是 "
        "(2+1)(2+1) = 9。为了确认，我把它们列出来：1、2、3、4、6、9、12、18、36，正好九个。",
        "火车 9:15 出发，11:40 到达，所以行程用了两小时二十五分钟。距离是 170 公里。把时间换算成小时大约是 2.42 "
        "小时，因此平均速度大约是每小时 70 公里。对于一列区域列车来说，这个结果是合理的。",
        "我们来解方程 $x^2 - 5x + 6 = 0$。它可以分解为 $(x-2)(x-3)=0$，所以两个根是 2 和 3。验证一下：当 x = 2 时，"
        "4 - 10 + 6 = 0；当 x = 3 时，9 - 15 + 6 = 0。两个解都成立。",
    ],
}

# Short final answers: the hard case (a handful of words, numbers, units).
FINALS: dict[str, list[str]] = {
    "en": [
        "Answer: 59 euros.", "The answer is 12.", "So the total is 59 euros.", "There are 9 positive divisors.",
        "The solutions are x = 2 and x = 3.", "The average speed is about 70 km/h.", "Final answer: \\boxed{42}",
        "She has 7 apples left.",
    ],
    "fr": [
        "La réponse est 12.", "Réponse : 59 euros.", "Le total est de 59 euros.", "Il y a 9 diviseurs positifs.",
        "Les solutions sont x = 2 et x = 3.", "La vitesse moyenne est d'environ 70 km/h.", "Il lui reste 7 pommes.",
        "Le résultat est donc \\boxed{42}.",
    ],
    "de": [
        "Die Antwort ist 7.", "Antwort: 59 Euro.", "Insgesamt kostet es 59 Euro.", "Es gibt 9 positive Teiler.",
        "Die Lösungen sind x = 2 und x = 3.", "Die Durchschnittsgeschwindigkeit beträgt etwa 70 km/h.",
        "Sie hat noch 7 Äpfel übrig.", "Das Ergebnis lautet \\boxed{42}.",
    ],
    "es": [
        "La respuesta es 3.", "Respuesta: 59 euros.", "El total es de 59 euros.", "Hay 9 divisores positivos.",
        "Las soluciones son x = 2 y x = 3.", "La velocidad media es de unos 70 km/h.", "Le quedan 7 manzanas.",
        "El resultado es \\boxed{42}.",
    ],
    "it": [
        "La risposta è 5.", "Risposta: 59 euro.", "Il totale è di 59 euro.", "Ci sono 9 divisori positivi.",
        "Le soluzioni sono x = 2 e x = 3.", "La velocità media è di circa 70 km/h.", "Le restano 7 mele.",
        "Il risultato è \\boxed{42}.",
    ],
    "zh": [
        "答案是 5。", "答案：59 欧元。", "总共是 59 欧元。", "36 有 9 个正因数。", "方程的解是 x = 2 和 x = 3。",
        "平均速度约为每小时 70 公里。", "她还剩 7 个苹果。", "最终答案是 \\boxed{42}。",
    ],
}

# More short finals, written after a first function-word table was drawn up (lingua alone gets these right too).
MORE_FINALS: dict[str, list[str]] = {
    "en": ["It takes 3 hours.", "The result is 15.", "He needs 4 more boxes.", "Therefore x equals 6.",
           "We get 24 cookies in all.", "Each friend receives 8 stickers.", "The rectangle has an area of 35 cm².",
           "Total cost: 120 dollars.", "The probability is 1/6.", "Tom is 14 years old."],
    "fr": ["Cela prend 3 heures.", "Le résultat vaut 15.", "Il lui faut encore 4 boîtes.", "Donc x vaut 6.",
           "On obtient 24 biscuits en tout.", "Chaque ami reçoit 8 autocollants.", "L'aire du rectangle est de 35 cm².",
           "Coût total : 120 dollars.", "La probabilité vaut 1/6.", "Tom a 14 ans."],
    "de": ["Es dauert 3 Stunden.", "Das Ergebnis ist 15.", "Er braucht noch 4 Kisten.", "Also ist x gleich 6.",
           "Wir bekommen insgesamt 24 Kekse.", "Jeder Freund bekommt 8 Aufkleber.",
           "Das Rechteck hat eine Fläche von 35 cm².", "Gesamtkosten: 120 Dollar.",
           "Die Wahrscheinlichkeit beträgt 1/6.", "Tom ist 14 Jahre alt."],
    "es": ["Tarda 3 horas.", "El resultado vale 15.", "Necesita 4 cajas más.", "Por lo tanto x vale 6.",
           "Obtenemos 24 galletas en total.", "Cada amigo recibe 8 pegatinas.",
           "El rectángulo tiene un área de 35 cm².", "Coste total: 120 dólares.", "La probabilidad es 1/6.",
           "Tom tiene 14 años."],
    "it": ["Ci vogliono 3 ore.", "Il risultato vale 15.", "Gli servono altre 4 scatole.", "Quindi x vale 6.",
           "Otteniamo 24 biscotti in tutto.", "Ogni amico riceve 8 adesivi.", "Il rettangolo ha un'area di 35 cm².",
           "Costo totale: 120 dollari.", "La probabilità è 1/6.", "Tom ha 14 anni."],
    "zh": ["需要 3 个小时。", "结果是 15。", "他还需要 4 个箱子。", "所以 x 等于 6。", "一共得到 24 块饼干。",
           "每个朋友得到 8 张贴纸。", "长方形的面积是 35 平方厘米。", "总费用：120 美元。", "概率是 1/6。", "汤姆今年 14 岁。"],
}

# Two more sets: SET_3 showed gaps in the function-word table (e.g. "à", fixed after), SET_4 was written after the
# method was final and checked once (48/48; lingua alone also 48/48).
SET_3: dict[str, list[str]] = {
    "en": [
        "Yes, it is divisible by 3.", "No, the number is odd.", "He will arrive at 5 pm.",
        "You need 8 more marbles.", "The perimeter is 24 cm.", "It is a prime number.",
        "Both trains meet after 2 hours.", "We can buy 6 pencils with that money.",
    ],
    "fr": [
        "Oui, il est divisible par 3.", "Non, ce nombre est impair.", "Il arrivera à 17 h.",
        "Tu as besoin de 8 billes de plus.", "Le périmètre mesure 24 cm.", "C'est un nombre premier.",
        "Les deux trains se croisent après 2 heures.", "On peut acheter 6 crayons avec cet argent.",
    ],
    "de": [
        "Ja, sie ist durch 3 teilbar.", "Nein, die Zahl ist ungerade.", "Er kommt um 17 Uhr an.",
        "Du brauchst noch 8 Murmeln.", "Der Umfang beträgt 24 cm.", "Es ist eine Primzahl.",
        "Beide Züge treffen sich nach 2 Stunden.", "Mit dem Geld kann man 6 Stifte kaufen.",
    ],
    "es": [
        "Sí, es divisible entre 3.", "No, el número es impar.", "Llegará a las 5 de la tarde.",
        "Necesitas 8 canicas más.", "El perímetro mide 24 cm.", "Es un número primo.",
        "Los dos trenes se cruzan después de 2 horas.", "Con ese dinero podemos comprar 6 lápices.",
    ],
    "it": [
        "Sì, è divisibile per 3.", "No, il numero è dispari.", "Arriverà alle 17.", "Ti servono altre 8 biglie.",
        "Il perimetro misura 24 cm.", "È un numero primo.", "I due treni si incrociano dopo 2 ore.",
        "Con quei soldi possiamo comprare 6 matite.",
    ],
    "zh": [
        "是的，它能被 3 整除。", "不，这个数是奇数。", "他下午 5 点到。", "你还需要 8 颗弹珠。", "周长是 24 厘米。", "这是一个质数。", "两列火车 2 小时后相遇。",
        "用这些钱可以买 6 支铅笔。",
    ],
}
SET_4: dict[str, list[str]] = {
    "en": [
        "Final result: 36 students.", "Each box holds 12 eggs.", "So she saved 45 dollars.",
        "That makes 3 hours and 20 minutes.", "No solution exists.", "The smaller angle measures 40 degrees.",
        "He ran 7 km further.", "Only 2 cards remain.",
    ],
    "fr": [
        "Résultat final : 36 élèves.", "Chaque boîte contient 12 œufs.", "Elle a donc économisé 45 dollars.",
        "Cela fait 3 heures et 20 minutes.", "Aucune solution n'existe.", "Le plus petit angle mesure 40 degrés.",
        "Il a couru 7 km de plus.", "Il ne reste que 2 cartes.",
    ],
    "de": [
        "Endergebnis: 36 Schüler.", "Jede Schachtel enthält 12 Eier.", "Sie hat also 45 Dollar gespart.",
        "Das macht 3 Stunden und 20 Minuten.", "Es gibt keine Lösung.", "Der kleinere Winkel misst 40 Grad.",
        "Er ist 7 km weiter gelaufen.", "Nur 2 Karten bleiben übrig.",
    ],
    "es": [
        "Resultado final: 36 alumnos.", "Cada caja contiene 12 huevos.", "Así que ahorró 45 dólares.",
        "Eso da 3 horas y 20 minutos.", "No existe ninguna solución.", "El ángulo menor mide 40 grados.",
        "Corrió 7 km más.", "Solo quedan 2 cartas.",
    ],
    "it": [
        "Risultato finale: 36 studenti.", "Ogni scatola contiene 12 uova.", "Quindi ha risparmiato 45 dollari.",
        "Fanno 3 ore e 20 minuti.", "Non esiste alcuna soluzione.", "L'angolo minore misura 40 gradi.",
        "Ha corso 7 km in più.", "Restano solo 2 carte.",
    ],
    "zh": [
        "最终结果：36 名学生。", "每个盒子装 12 个鸡蛋。", "所以她省了 45 美元。", "一共是 3 小时 20 分钟。", "没有解。", "较小的角是 40 度。", "他多跑了 7 公里。",
        "只剩下 2 张卡片。",
    ],
}

# The confusable neighbours: without them in the candidate set these would pass for Spanish / German / Spanish.
NEIGHBOURS: dict[str, list[str]] = {
    "pt": [
        "Precisamos calcular quanto a Maria gastou no total. Ela comprou três cadernos a 4 euros cada, o que dá 12 "
        "euros, e ainda uma mochila que custa 47 euros. Somando tudo, obtemos 59 euros. Vou conferir de novo: três "
        "vezes quatro são doze, e doze mais quarenta e sete são cinquenta e nove.",
        "A resposta é 12.",
    ],
    "nl": [
        "We moeten uitrekenen hoeveel Maria in totaal heeft uitgegeven. Ze kocht drie schriften van 4 euro per stuk, "
        "dat is 12 euro, en daarnaast een rugzak van 47 euro. Samen geeft dat 59 euro. Ik controleer het nog een keer: "
        "drie keer vier is twaalf, en twaalf plus zevenenveertig is negenenvijftig.",
        "Het antwoord is 12.",
    ],
    "ca": [
        "Hem de calcular quant ha gastat la Maria en total. Va comprar tres llibretes a 4 euros cadascuna, que fan 12 "
        "euros, i a més una motxilla que costa 47 euros. Si ho sumem tot, obtenim 59 euros. Ho comprovo una altra "
        "vegada: tres per quatre fan dotze, i dotze més quaranta-set fan cinquanta-nou.",
        "La resposta és 12.",
    ],
}


def _cases(table):
    return [(lang, text) for lang, texts in table.items() for text in texts]


def test_fixture_shapes():
    for lang, texts in PARAGRAPHS.items():
        assert len(texts) >= 3
        if lang != "zh":
            assert all(30 <= len(t.split()) <= 80 for t in texts), lang
    assert set(PARAGRAPHS) == set(FINALS) == {"en", "fr", "de", "es", "it", "zh"}
    assert all(len(texts) >= 5 for texts in FINALS.values())


@pytest.mark.parametrize("lang,text", _cases(PARAGRAPHS))
def test_paragraphs(lang, text):
    assert detect_language(text) == lang


@pytest.mark.parametrize("lang,text", _cases(FINALS) + _cases(MORE_FINALS) + _cases(SET_3) + _cases(SET_4))
def test_short_finals(lang, text):
    assert detect_language(text) == lang


@pytest.mark.parametrize("lang,text", _cases(NEIGHBOURS))
def test_neighbours_get_their_own_code(lang, text):
    assert detect_language(text) == lang


@pytest.mark.parametrize(
    "text",
    [None, "", "   \n", 42, 3.5, b"The answer is 12.", ["The answer is 12."], {"content": "x"},
     "42", "3/4", "x = 3", "2x + 5 = 11", "$\\frac{3}{4}$", "\\boxed{42}", "?!", "<|end|><|return|>", "ab", "é"],
)
def test_none_cases(text):
    assert detect_language(text) is None


def test_markers_and_formulas_do_not_dominate():
    noisy = ("<|channel|>analysis<|message|>x = 3, y = 4, z = x^2 + y^2 = 25, $\\sqrt{25} = 5$, 3-4-5. "
             "Donc l'hypoténuse mesure cinq.<|end|>")
    assert detect_language(noisy) == "fr"
    cleaned = clean_text(noisy)
    assert "channel" not in cleaned and "25" not in cleaned and "sqrt" not in cleaned
    assert "hypoténuse" in cleaned


def test_clean_text_drops_temperature_units():
    assert clean_text("Il fait 25 °C, soit 77°F.") == "Il fait , soit ."
    assert clean_text("°C") == "C"  # no number before it: the degree sign goes, the letter stays


def test_clean_text_keeps_one_letter_words():
    assert clean_text("Juan y María") == "Juan y María"
    assert clean_text("x = 2 y x = 3") == ""


def test_huge_text_is_sampled():
    text = "Die Antwort ist sieben, weil drei plus vier sieben ergibt. " * 5000
    assert detect_language(text) == "de"


def test_language_code():
    assert language_code("French") == "fr"
    assert language_code(" german ") == "de"
    assert language_code("zh") == "zh"
    assert language_code("Español") == "es"
    assert language_code("reasoning language: Italian") == "it"
    for name, code in LANGUAGE_CODES.items():
        assert language_code(name) == code
    with pytest.raises(ValueError, match="French"):
        language_code("Klingon")
    with pytest.raises(ValueError):
        language_code(None)


def test_every_code_is_detectable():
    assert set(LANGUAGE_CODES.values()) == set(langid.TUTORIAL_LANGUAGES + langid.NEIGHBOUR_LANGUAGES)


def test_works_from_threads():
    results = []
    threads = [threading.Thread(target=lambda: results.append(detect_language("La risposta è 5."))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["it"] * 4
