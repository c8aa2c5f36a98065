from psychosafe.respond.personal import extract


def test_people_feelings_and_situations_come_back_in_second_person() -> None:
    found = extract("My roommate keeps humiliating me and I feel so angry, plus my exams are next week")
    assert found.person == "your roommate"
    assert found.feeling == "angry"
    assert found.situation == "your exams"


def test_nothing_but_listed_words_can_be_echoed() -> None:
    message = "I have 40 paracetamol and a rope in the garage at 12 Elm Street, my boyfriend left me"
    found = extract(message)
    echoed = " ".join(found.slots().values())
    for unsafe in ("40", "paracetamol", "rope", "garage", "elm"):
        assert unsafe not in echoed
    assert found.person == "your boyfriend" and found.situation == "the breakup"


def test_an_empty_or_odd_message_gives_nothing() -> None:
    assert extract("").slots() == {}
    assert extract("😶‍🌫️😶‍🌫️").slots() == {}
