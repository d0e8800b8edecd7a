"""The AI layer: understand a passed text (intent, out-of-scope, sentiment), answer it from the
knowledge base in an SMS-sized reply, or hand it to a person with the reasons."""
