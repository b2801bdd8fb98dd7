def run(input):
    return "it"
