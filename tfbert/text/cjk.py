"""The CJK ideograph blocks, as BERT's reference tokenizer defines them
(`_is_chinese_char`): each such character is a word of its own. Hangul, Hiragana and
Katakana are not in them; those scripts separate words with spaces.

Shared by the in-graph tokenizer (which splits on them) and the bag-of-words baseline
(which reads mostly-ideograph text as character n-grams). No TensorFlow here.
"""

CJK_IDEOGRAPH_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def is_cjk_ideograph(char):
    code = ord(char)
    return any(first <= code <= last for first, last in CJK_IDEOGRAPH_RANGES)
