print("edgedistill")
