def run(input):
    return 1
