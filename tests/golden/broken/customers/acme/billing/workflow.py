def run(input):
    return None
