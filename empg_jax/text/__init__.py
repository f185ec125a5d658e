"""Tokenizers and chat templates: word-level vocabularies for the built-in environments,
Hugging Face `tokenizer.json` files and the Qwen2.5 tokenizer built offline."""
