"""Tokenizers and chat templates: word-level vocabularies for the built-in environments,
Hugging Face `tokenizer.json` files and the Qwen2.5 tokenizer built offline, and the bridge between
them for the real-LLM path (`chat.ChatTokenizer`: a checkpoint's tokenizer, chat template and stop
tokens; `bridge.TokenBridge`: word-id prompts and answers as the checkpoint's ids inside jit;
`answer.AnswerReader` / `answer.parse_answer`: generated ids back to word ids and the action)."""
