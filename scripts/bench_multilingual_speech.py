"""WER of clean espeak-ng speech through whisper base, per language, each catalogue voice's variant and
prosody carried into the language (as render_dialogue does); decoy = the next sentence of the same language.
The thresholds in tools/quality/speech_check.py come from these figures.

    .venv/bin/python scripts/bench_multilingual_speech.py [LANG ...]
"""
import json
import sys
import time
import unicodedata

import numpy as np

from tools.pure.asr import ASR_RATE, conditioned, word_error_rate
from tools.pure.speech import VOICES, in_language, synthesize
from tools.pure.whisper import transcribe_whisper

SENTENCES = {
    "en": ["The children walked to school in the morning with their mother.",
           "Please call me back when you get home tonight.",
           "The meeting has been moved to the small room on the third floor.",
           "I think we should take the train instead of driving.",
           "My brother bought a new bicycle last weekend.",
           "Could you tell me where the nearest pharmacy is?",
           "The weather was cold and windy all afternoon.",
           "She forgot her umbrella at the restaurant yesterday.",
           "We are going to visit our grandparents next summer.",
           "The library closes early on Sundays."],
    "es": ["Los niños caminaron a la escuela por la mañana con su madre.",
           "Por favor, llámame cuando llegues a casa esta noche.",
           "La reunión se ha trasladado a la sala pequeña del tercer piso.",
           "Creo que deberíamos tomar el tren en lugar de conducir.",
           "Mi hermano compró una bicicleta nueva el fin de semana pasado.",
           "¿Podría decirme dónde está la farmacia más cercana?",
           "El tiempo estuvo frío y con viento toda la tarde.",
           "Ella olvidó su paraguas en el restaurante ayer.",
           "Vamos a visitar a nuestros abuelos el próximo verano.",
           "La biblioteca cierra temprano los domingos."],
    "fr": ["Les enfants sont allés à l'école le matin avec leur mère.",
           "S'il te plaît, rappelle-moi quand tu rentres ce soir.",
           "La réunion a été déplacée dans la petite salle du troisième étage.",
           "Je pense que nous devrions prendre le train au lieu de conduire.",
           "Mon frère a acheté un nouveau vélo le week-end dernier.",
           "Pourriez-vous me dire où se trouve la pharmacie la plus proche?",
           "Il a fait froid et venteux tout l'après-midi.",
           "Elle a oublié son parapluie au restaurant hier.",
           "Nous allons rendre visite à nos grands-parents l'été prochain.",
           "La bibliothèque ferme tôt le dimanche."],
    "de": ["Die Kinder sind am Morgen mit ihrer Mutter zur Schule gegangen.",
           "Bitte ruf mich zurück, wenn du heute Abend nach Hause kommst.",
           "Die Besprechung wurde in den kleinen Raum im dritten Stock verlegt.",
           "Ich denke, wir sollten den Zug nehmen, statt mit dem Auto zu fahren.",
           "Mein Bruder hat letztes Wochenende ein neues Fahrrad gekauft.",
           "Können Sie mir sagen, wo die nächste Apotheke ist?",
           "Das Wetter war den ganzen Nachmittag kalt und windig.",
           "Sie hat gestern ihren Regenschirm im Restaurant vergessen.",
           "Wir werden nächsten Sommer unsere Großeltern besuchen.",
           "Die Bibliothek schließt sonntags früh."],
    "it": ["I bambini sono andati a scuola la mattina con la loro madre.",
           "Per favore, richiamami quando torni a casa stasera.",
           "La riunione è stata spostata nella sala piccola al terzo piano.",
           "Penso che dovremmo prendere il treno invece di guidare.",
           "Mio fratello ha comprato una bicicletta nuova lo scorso fine settimana.",
           "Potrebbe dirmi dov'è la farmacia più vicina?",
           "Il tempo è stato freddo e ventoso tutto il pomeriggio.",
           "Lei ha dimenticato l'ombrello al ristorante ieri.",
           "Andremo a trovare i nostri nonni la prossima estate.",
           "La biblioteca chiude presto la domenica."],
    "pt": ["As crianças foram para a escola de manhã com a mãe.",
           "Por favor, liga-me quando chegares a casa esta noite.",
           "A reunião foi mudada para a sala pequena do terceiro andar.",
           "Acho que devíamos apanhar o comboio em vez de conduzir.",
           "O meu irmão comprou uma bicicleta nova no fim de semana passado.",
           "Pode dizer-me onde fica a farmácia mais próxima?",
           "O tempo esteve frio e com vento durante toda a tarde.",
           "Ela esqueceu-se do guarda-chuva no restaurante ontem.",
           "Vamos visitar os nossos avós no próximo verão.",
           "A biblioteca fecha cedo aos domingos."],
    "nl": ["De kinderen liepen 's ochtends met hun moeder naar school.",
           "Bel me alsjeblieft terug als je vanavond thuiskomt.",
           "De vergadering is verplaatst naar de kleine zaal op de derde verdieping.",
           "Ik denk dat we beter de trein kunnen nemen in plaats van te rijden.",
           "Mijn broer heeft vorig weekend een nieuwe fiets gekocht.",
           "Kunt u me vertellen waar de dichtstbijzijnde apotheek is?",
           "Het weer was de hele middag koud en winderig.",
           "Ze is gisteren haar paraplu in het restaurant vergeten.",
           "We gaan volgende zomer onze grootouders bezoeken.",
           "De bibliotheek sluit op zondag vroeg."],
}
BASES = {"en": None, "es": "es", "fr": "fr", "de": "de", "it": "it", "pt": "pt", "nl": "nl"}


def fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def recognise(samples: np.ndarray, lang: str) -> str:
    return transcribe_whisper(conditioned(samples, ASR_RATE), "whisper-base", lang)


def main() -> None:
    langs = sys.argv[1:] or list(SENTENCES)
    out = {}
    for lang in langs:
        t = time.time()
        clean, decoy, per_voice, folded = [], [], {}, []
        texts = SENTENCES[lang]
        for v in VOICES:
            voice = in_language(v, lang)
            spec = voice.spec
            for k, text in enumerate(texts):
                heard = recognise(synthesize(text, spec, voice.rate, voice.pitch, ASR_RATE), lang)
                w = word_error_rate(text, heard)
                folded.append(word_error_rate(fold(text), fold(heard)))
                clean.append(w)
                decoy.append(word_error_rate(texts[(k + 1) % len(texts)], heard))
                per_voice.setdefault(spec, []).append(w)
                if w > 0.6:
                    print(f"  {lang} {spec} {w:.2f} {text!r} -> {heard!r}", flush=True)
        c, d, f = np.array(clean), np.array(decoy), np.array(folded)
        row = {"clips": len(c), "mean": round(c.mean(), 3), "p95": round(float(np.percentile(c, 95)), 3),
               "folded_mean": round(f.mean(), 3), "folded_p95": round(float(np.percentile(f, 95)), 3),
               "max": round(c.max(), 3), "decoy_min": round(d.min(), 3),
               "decoy_p5": round(float(np.percentile(d, 5)), 3),
               "voice_means": {k: round(float(np.mean(x)), 3) for k, x in per_voice.items()},
               "seconds": round(time.time() - t, 1)}
        out[lang] = row
        print(lang, json.dumps(row), flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
