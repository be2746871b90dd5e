//! Reasoning elicitation in seven languages: twenty ways per language of
//! asking for worked, step-by-step reasoning, written for this test (apart
//! from the simulator's phrases), and requests that ask for none.

use dw_detect::signals::asks_for_reasoning;

fn check(language: &str, asks: &[&str], does_not: &[&str]) {
    assert!(asks.len() >= 20, "{language}: at least 20 phrasings");
    let missed: Vec<&&str> = asks.iter().filter(|t| !asks_for_reasoning(t)).collect();
    assert!(missed.is_empty(), "{language}: not recognized: {missed:#?}");
    let false_hits: Vec<&&str> = does_not.iter().filter(|t| asks_for_reasoning(t)).collect();
    assert!(false_hits.is_empty(), "{language}: wrongly recognized: {false_hits:#?}");
}

#[test]
fn english() {
    check(
        "English",
        &[
            "Solve for x. Show your work.",
            "Please think step by step before you answer.",
            "Walk me through how you'd derive this formula.",
            "Explain your reasoning in detail.",
            "Can you reason through this carefully and then answer?",
            "Give me your chain of thought, then the result.",
            "Break the solution down step-by-step.",
            "Show all intermediate steps of the calculation.",
            "Let's think this one through together, one step at a time.",
            "Before answering, think about each constraint.",
            "Describe your thought process as you solve it.",
            "Show your working for each part.",
            "Justify your answer with a full derivation.",
            "Work it out explicitly, line by line.",
            "Go through every step of the proof.",
            "I need the reasoning process, not just the number.",
            "Think it through and explain how you got there.",
            "Answer, but first lay out your reasoning step by step.",
            "Reason step by step and put the final answer in a box.",
            "Show all work and explain each step.",
        ],
        &["Write a limerick about a cat.", "What time is it in Tokyo?", "Summarize this article in two sentences."],
    );
}

#[test]
fn chinese() {
    check(
        "Chinese",
        &[
            "请一步一步解答。",
            "请逐步推理并给出答案。",
            "写出详细的解题过程。",
            "请展示你的推理过程。",
            "请分步骤说明。",
            "先给出思考过程，再给出最终答案。",
            "用思维链的方式回答这个问题。",
            "请详细推理后回答。",
            "把解题步骤写清楚。",
            "一步步地算给我看。",
            "请写出完整的推导过程。",
            "请分步解决这道数学题。",
            "请逐步分析这个问题。",
            "请展示计算过程。",
            "先推理，再作答，写出推理过程。",
            "请给出解题思路和步骤。",
            "你能一步一步地解释吗？",
            "请把每一步的推理都写出来。",
            "逐步思考后给出结论。",
            "请详细写出过程和答案。",
        ],
        &["今天天气怎么样？", "给我写一首关于春天的诗。", "把这句话翻译成英文。"],
    );
}

#[test]
fn spanish() {
    check(
        "Spanish",
        &[
            "Resuélvelo paso a paso.",
            "Explica tu razonamiento antes de responder.",
            "Muestra tu trabajo, por favor.",
            "Razona con cuidado y luego da la respuesta.",
            "Detalla cada paso del cálculo.",
            "Muestra el procedimiento completo.",
            "Justifica tu respuesta.",
            "¿Puedes explicar cómo llegaste a ese resultado?",
            "Quiero ver todo el razonamiento.",
            "Piénsalo paso a paso.",
            "Desarrolla la solución paso por paso.",
            "Explica los pasos intermedios.",
            "Haz el razonamiento completo antes de concluir.",
            "Resuelve mostrando todos los pasos.",
            "Dame tu proceso de pensamiento.",
            "Razona la respuesta.",
            "Describe cada paso que sigues.",
            "Explica el razonamiento detrás de la respuesta.",
            "Resuelve el ejercicio y muestra el desarrollo paso a paso.",
            "Antes de responder, razona en voz alta.",
        ],
        &["¿Qué tiempo hace hoy en Madrid?", "Escribe un poema sobre el mar.", "Traduce esto al inglés."],
    );
}

#[test]
fn russian() {
    check(
        "Russian",
        &[
            "Реши задачу шаг за шагом.",
            "Объясни своё рассуждение.",
            "Покажи ход решения.",
            "Распиши решение пошагово.",
            "Рассуждай вслух, прежде чем ответить.",
            "Обоснуй ответ.",
            "Покажи все промежуточные шаги.",
            "Опиши ход мыслей.",
            "Реши по шагам и дай ответ.",
            "Покажи решение полностью.",
            "Давай рассуждать шаг за шагом.",
            "Подробно распиши каждый шаг.",
            "Поясни, как ты пришёл к ответу, с рассуждениями.",
            "Сначала рассуждения, потом ответ.",
            "Приведи подробное рассуждение.",
            "Разбери задачу пошагово.",
            "Объясни каждый шаг решения.",
            "Покажи, как ты решаешь, шаг за шагом.",
            "Напиши ход решения и ответ.",
            "Обоснуй каждый шаг.",
        ],
        &["Какая сегодня погода?", "Напиши стихотворение о зиме.", "Переведи это на английский."],
    );
}

#[test]
fn japanese() {
    check(
        "Japanese",
        &[
            "ステップバイステップで解いてください。",
            "段階的に説明してください。",
            "一歩ずつ考えてください。",
            "途中式も書いてください。",
            "推論の過程を示してください。",
            "考え方を説明してから答えてください。",
            "順を追って説明してください。",
            "解き方を詳しく教えてください。",
            "思考過程を書いてください。",
            "各ステップを示して解答してください。",
            "答えの根拠を示してください。",
            "計算の過程を見せてください。",
            "段階を踏んで推論してください。",
            "どうやってその答えになったか、手順を説明してください。",
            "途中の計算も省略しないでください。",
            "推論しながら答えてください。",
            "解法をステップごとに書いてください。",
            "理由を段階的に説明してください。",
            "一歩一歩考えて答えを出してください。",
            "順を追って考え方を示してください。",
        ],
        &["今日の天気はどうですか？", "桜についての俳句を書いてください。", "これを英語に翻訳してください。"],
    );
}

#[test]
fn french() {
    check(
        "French",
        &[
            "Résous le problème étape par étape.",
            "Explique ton raisonnement.",
            "Montre ton travail.",
            "Détaille chaque étape du calcul.",
            "Raisonne pas à pas avant de répondre.",
            "Justifie ta réponse.",
            "Décris ta démarche en détail.",
            "Montre toutes les étapes intermédiaires.",
            "Réfléchis étape par étape.",
            "Donne le raisonnement complet puis la réponse.",
            "Explique comment tu arrives au résultat, étape par étape.",
            "Je veux voir tout le raisonnement.",
            "Procède pas à pas.",
            "Expose ton raisonnement avant de conclure.",
            "Détaille les étapes de la résolution.",
            "Fais le calcul en montrant chaque étape.",
            "Raisonne à voix haute.",
            "Justifie chaque étape.",
            "Présente ta démarche étape après étape.",
            "Explique le raisonnement derrière ta réponse.",
        ],
        &["Quel temps fait-il à Paris ?", "Écris un poème sur la mer.", "Traduis ceci en anglais."],
    );
}

#[test]
fn german() {
    check(
        "German",
        &[
            "Löse die Aufgabe Schritt für Schritt.",
            "Erkläre deinen Gedankengang.",
            "Zeige den Lösungsweg.",
            "Bitte mit vollständigem Rechenweg.",
            "Gehe schrittweise vor.",
            "Begründe deine Antwort.",
            "Zeige alle Zwischenschritte.",
            "Denke Schritt für Schritt nach und antworte dann.",
            "Beschreibe deinen Denkprozess.",
            "Erkläre jeden Schritt der Rechnung.",
            "Leite das Ergebnis schrittweise her.",
            "Ich möchte den ganzen Lösungsweg sehen.",
            "Erläutere deine Überlegungen Schritt für Schritt.",
            "Bitte begründe jeden Schritt.",
            "Zeig mir, wie du auf das Ergebnis kommst, mit allen Zwischenschritten.",
            "Rechne es Schritt für Schritt vor.",
            "Schreibe deinen Gedankengang auf, bevor du antwortest.",
            "Erkläre den Rechenweg ausführlich.",
            "Löse schrittweise und begründe.",
            "Lege deine Überlegungen dar und zeige die Zwischenschritte.",
        ],
        &["Wie ist das Wetter in Berlin?", "Schreibe ein Gedicht über den Herbst.", "Übersetze das ins Englische."],
    );
}
