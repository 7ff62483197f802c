// implementation lands shortly
